// Policy, consent, bounds, retention and forget, against the real tk-agent.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>

#include "agent_client.hpp"

using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

/// Sends one event of `tool` with `signals` on a fresh connection; returns the flush ack.
v1::FlushAck send_one(RunningAgent& agent, const v1::ToolIdentity& tool, const v1::OptOutSignals& signals = {},
                      v1::Event event = make_event("run")) {
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool, signals));
    REQUIRE(client.event(event));
    const auto ack = client.flush();
    REQUIRE(ack);
    return *ack;
}

std::uint64_t queued(RunningAgent& agent, const std::string& tool) {
    return agent.control(events_request(tool)).events().total();
}

v1::OptOutSignals dnt(const std::string& value) {
    v1::OptOutSignals signals;
    signals.set_do_not_track(value);
    signals.set_do_not_track_set(true);
    return signals;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TEST_CASE("each policy rule drops and counts by reason, nothing dropped is stored") {
    RunningAgent agent;
    const auto opt_out = tool_identity("optout", true);
    const auto opt_in = tool_identity("optin", false);

    CHECK(send_one(agent, opt_out).accepted() == 1);
    CHECK(send_one(agent, opt_out, dnt("1")).dropped() == 1);
    CHECK(send_one(agent, opt_out, dnt("true")).dropped() == 1);
    CHECK(send_one(agent, opt_out, dnt("0")).accepted() == 1);      // 0 is not an opt-out
    CHECK(send_one(agent, opt_out, dnt("FALSE")).accepted() == 1);  // nor is false
    CHECK(send_one(agent, opt_out, dnt("")).accepted() == 1);       // nor an empty value
    v1::OptOutSignals disabled;
    disabled.set_tool_disabled("yes");
    disabled.set_tool_disabled_set(true);
    CHECK(send_one(agent, opt_out, disabled).dropped() == 1);
    v1::OptOutSignals ci;
    ci.add_ci_markers("GITHUB_ACTIONS");
    CHECK(send_one(agent, opt_out, ci).dropped() == 1);
    CHECK(send_one(agent, opt_in).dropped() == 1);  // opt-in, not granted

    auto allow_ci = tool_identity("citool", true);
    allow_ci.set_allow_ci(true);
    CHECK(send_one(agent, allow_ci, ci).accepted() == 1);
    const auto ci_events = agent.control(events_request("citool")).events();
    REQUIRE(ci_events.events_size() == 1);
    CHECK(ci_events.events(0).ci());

    const auto status = agent.status();
    CHECK(queued(agent, "optout") == 4);
    CHECK(queued(agent, "optin") == 0);
    CHECK(dropped(status, "optout", "do_not_track") == 2);
    CHECK(dropped(status, "optout", "tool_disabled") == 1);
    CHECK(dropped(status, "optout", "ci") == 1);
    CHECK(dropped(status, "optin", "consent_unset") == 1);

    // Counters survive a restart.
    REQUIRE(agent.stop() == 0);
    agent.start();
    CHECK(dropped(agent.status(), "optout", "do_not_track") == 2);
}

TEST_CASE("precedence: global off, then DO_NOT_TRACK, then the tool's variable, then CI, then consent") {
    RunningAgent agent;
    auto tool = tool_identity("prec", true);
    tool.set_allow_ci(false);
    v1::OptOutSignals all = dnt("1");
    all.set_tool_disabled("1");
    all.add_ci_markers("CI");
    agent.control(consent_request(v1::ConsentRequest::ACTION_GRANT, "prec"));
    send_one(agent, tool, all);
    CHECK(dropped(agent.status(), "prec", "do_not_track") == 1);
    all.clear_do_not_track();
    send_one(agent, tool, all);
    CHECK(dropped(agent.status(), "prec", "tool_disabled") == 1);
    all.clear_tool_disabled();
    send_one(agent, tool, all);
    CHECK(dropped(agent.status(), "prec", "ci") == 1);
    agent.control(consent_request(v1::ConsentRequest::ACTION_DENY, "", true));
    send_one(agent, tool, dnt("1"));
    CHECK(dropped(agent.status(), "prec", "global_off") == 1);
}

TEST_CASE("consent changes take effect for the next event, on an open connection too") {
    RunningAgent agent;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("cli", false)));  // opt-in
    REQUIRE(client.event(make_event("before grant")));
    REQUIRE(client.flush()->dropped() == 1);

    auto reply = agent.control(consent_request(v1::ConsentRequest::ACTION_GRANT, "cli"));
    REQUIRE(reply.consent().tools_size() == 1);
    CHECK(reply.consent().tools(0).consent() == v1::CONSENT_GRANTED);
    REQUIRE(client.event(make_event("granted")));
    auto ack = client.flush();
    CHECK(ack->accepted() == 1);
    CHECK(queued(agent, "cli") == 1);

    // Denying drops the next event and deletes what is queued (counted).
    agent.control(consent_request(v1::ConsentRequest::ACTION_DENY, "cli"));
    CHECK(queued(agent, "cli") == 0);
    REQUIRE(client.event(make_event("denied")));
    ack = client.flush();
    CHECK(ack->accepted() == 1);
    CHECK(ack->dropped() == 2);
    auto status = agent.status();
    CHECK(dropped(status, "cli", "consent_denied") == 1);
    CHECK(dropped(status, "cli", "consent_withdrawn") == 1);
    CHECK(find_tool(status, "cli")->consent() == v1::CONSENT_DENIED);

    // Reset: back to the tool's default (opt-in: dropped as unset).
    agent.control(consent_request(v1::ConsentRequest::ACTION_RESET, "cli"));
    REQUIRE(client.event(make_event("reset")));
    client.flush();
    CHECK(dropped(agent.status(), "cli", "consent_unset") == 2);

    // The global switch: deny --all turns everything off, grant --all back on (and grants).
    agent.control(consent_request(v1::ConsentRequest::ACTION_DENY, "", true));
    CHECK(agent.status().global_consent() == v1::CONSENT_DENIED);
    CHECK(send_one(agent, tool_identity("other", true)).dropped() == 1);
    CHECK(dropped(agent.status(), "other", "global_off") == 1);
    const auto granted = agent.control(consent_request(v1::ConsentRequest::ACTION_GRANT, "", true));
    CHECK(granted.consent().global_consent() != v1::CONSENT_DENIED);
    CHECK(send_one(agent, tool_identity("other", true)).accepted() == 1);
    REQUIRE(client.event(make_event("granted again")));
    CHECK(client.flush()->accepted() == 2);

    // Consent is persisted.
    REQUIRE(agent.stop() == 0);
    agent.start();
    const auto after = agent.control(consent_request(v1::ConsentRequest::ACTION_STATUS, "cli"));
    REQUIRE(after.consent().tools_size() == 1);
    CHECK(after.consent().tools(0).consent() == v1::CONSENT_GRANTED);
}

TEST_CASE("a tool cannot overrule the person: only its first-run answer, only for itself") {
    RunningAgent agent;
    const auto consent_of = [&](const std::string& tool) {
        const auto response = agent.control(consent_request(v1::ConsentRequest::ACTION_STATUS, "", true));
        for (const auto& entry : response.consent().tools()) {
            if (entry.tool() == tool) return entry.consent();
        }
        return v1::CONSENT_UNSET;
    };
    // What the client library sends: no caller (a tool), no Hello.
    const auto as_tool = [](v1::ConsentRequest::Action action, const std::string& tool, bool all = false) {
        auto request = consent_request(action, tool, all);
        request.set_caller(v1::CALLER_TOOL);
        return request;
    };
    const auto error_of = [](AgentClient& client, const v1::ControlRequest& request) {
        const auto response = client.control(request);
        REQUIRE(response);
        return response->error();
    };

    AgentClient tool(agent.socket());
    // The first-run prompt records the answer while the person has not chosen.
    CHECK(error_of(tool, as_tool(v1::ConsentRequest::ACTION_GRANT, "prompted")).empty());
    CHECK(consent_of("prompted") == v1::CONSENT_GRANTED);
    // Asking again cannot change it, nor reset it.
    CHECK_THAT(error_of(tool, as_tool(v1::ConsentRequest::ACTION_DENY, "prompted")),
               Catch::Contains("only `tk consent` changes it"));
    CHECK(!error_of(tool, as_tool(v1::ConsentRequest::ACTION_RESET, "prompted")).empty());
    CHECK(consent_of("prompted") == v1::CONSENT_GRANTED);

    // The person denies; the tool cannot grant itself back.
    agent.control(consent_request(v1::ConsentRequest::ACTION_DENY, "pushy"));
    CHECK(!error_of(tool, as_tool(v1::ConsentRequest::ACTION_GRANT, "pushy")).empty());
    CHECK(consent_of("pushy") == v1::CONSENT_DENIED);
    send_one(agent, tool_identity("pushy", true));
    CHECK(queued(agent, "pushy") == 0);
    // Only the person can: tk consent.
    agent.control(consent_request(v1::ConsentRequest::ACTION_GRANT, "pushy"));
    CHECK(consent_of("pushy") == v1::CONSENT_GRANTED);

    // Not every tool, not the global switch, not while every tool is off.
    CHECK(!error_of(tool, as_tool(v1::ConsentRequest::ACTION_DENY, "", true)).empty());
    CHECK(!error_of(tool, as_tool(v1::ConsentRequest::ACTION_GRANT, "")).empty());
    CHECK(!error_of(tool, as_tool(v1::ConsentRequest::ACTION_STATUS, "", true)).empty());  // every tool's choice
    CHECK(consent_of("pushy") == v1::CONSENT_GRANTED);
    agent.control(consent_request(v1::ConsentRequest::ACTION_DENY, "", true));
    CHECK(!error_of(tool, as_tool(v1::ConsentRequest::ACTION_GRANT, "newcomer")).empty());
    agent.control(consent_request(v1::ConsentRequest::ACTION_RESET, "", true));

    // After a Hello as "alpha": not another tool's consent, nor its events (their anonymous ids).
    send_one(agent, tool_identity("beta", true));
    AgentClient alpha(agent.socket());
    REQUIRE(alpha.hello(tool_identity("alpha", true)));
    REQUIRE(alpha.event(make_event("run")));
    REQUIRE(alpha.flush());
    CHECK(!error_of(alpha, as_tool(v1::ConsentRequest::ACTION_GRANT, "beta")).empty());
    CHECK(!error_of(alpha, as_tool(v1::ConsentRequest::ACTION_STATUS, "beta")).empty());
    CHECK(consent_of("beta") == v1::CONSENT_UNSET);
    auto events = events_request("");
    events.set_caller(v1::CALLER_TOOL);
    CHECK(!error_of(alpha, events).empty());
    events.mutable_events()->set_tool("beta");
    CHECK(!error_of(alpha, events).empty());
    auto status = status_request();
    status.set_caller(v1::CALLER_TOOL);
    CHECK(!error_of(alpha, status).empty());
    // Its own: fine.
    events.mutable_events()->set_tool("alpha");
    const auto own = alpha.control(events);
    REQUIRE(own);
    CHECK(own->error().empty());
    REQUIRE(own->events().events_size() == 1);
    CHECK(own->events().events(0).tool() == "alpha");
    CHECK(error_of(alpha, as_tool(v1::ConsentRequest::ACTION_DENY, "alpha")).empty());
    CHECK(consent_of("alpha") == v1::CONSENT_DENIED);
    CHECK(agent.log().find("refused") != std::string::npos);
}

TEST_CASE("the queue bound sheds the oldest events and counts them") {
    RunningAgent agent("[queue]\nmax_events = 50\n");
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("bounded")));
    std::vector<std::string> ids;
    for (int i = 0; i < 80; ++i) {
        auto event = make_event("e");
        ids.push_back(event.id());
        REQUIRE(client.event(event));
    }
    REQUIRE(client.flush()->accepted() == 80);
    const auto status = agent.status();
    CHECK(status.queue_events() == 50);
    CHECK(status.max_queue_events() == 50);
    CHECK(find_tool(status, "bounded")->shed() == 30);
    const auto events = agent.control(events_request("bounded")).events();
    REQUIRE(events.events_size() == 50);
    CHECK(events.events(0).id() == ids[30]);  // the oldest 30 went
    CHECK(events.events(49).id() == ids[79]);
}

TEST_CASE("the byte bound sheds too") {
    RunningAgent agent("[queue]\nmax_bytes = 4000\n");
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("bytes")));
    for (int i = 0; i < 40; ++i) {
        auto event = make_event("e");
        (*event.mutable_attributes())["pad"].set_string_value(std::string(200, 'p'));
        REQUIRE(client.event(event));
    }
    client.flush();
    const auto status = agent.status();
    CHECK(status.queue_bytes() <= 4000);
    CHECK(status.queue_bytes() > 3000);
    CHECK(find_tool(status, "bytes")->shed() == 40 - status.queue_events());
}

TEST_CASE("events past the retention window expire and are counted") {
    RunningAgent agent("[queue]\nretention_days = 2\n");
    const auto day = 24 * 3600 * 1000LL;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("old")));
    for (int i = 0; i < 3; ++i)
        REQUIRE(client.event(make_event("ancient", static_cast<std::uint64_t>(now_ms() - 5 * day))));
    REQUIRE(client.event(make_event("recent", static_cast<std::uint64_t>(now_ms() - day))));
    REQUIRE(client.flush());
    // Expiry runs at start, at most once a minute on commit, and before status/events.
    const auto status = agent.status();
    CHECK(find_tool(status, "old")->expired() == 3);
    CHECK(find_tool(status, "old")->queued() == 1);
    CHECK(agent.control(events_request("old")).events().events(0).name() == "recent");
}

TEST_CASE("forget deletes a tool's local data, rotates its id and queues an erasure") {
    RunningAgent agent;
    auto tool = tool_identity("forgetme");
    tool.set_endpoint("https://collector.example");
    tool.set_ingest_key("key");
    send_one(agent, tool);
    send_one(agent, tool_identity("keepme"));
    const auto old_id = agent.control(events_request("forgetme")).events().events(0).anonymous_id();

    const auto reply = agent.control(forget_request("forgetme"));
    CHECK(reply.forget().deleted_events() == 1);
    REQUIRE(reply.forget().tools_size() == 1);
    CHECK(queued(agent, "forgetme") == 0);
    CHECK(queued(agent, "keepme") == 1);

    send_one(agent, tool);
    const auto new_id = agent.control(events_request("forgetme")).events().events(0).anonymous_id();
    CHECK(new_id != old_id);
    REQUIRE(agent.stop() == 0);
    agent.start();
    send_one(agent, tool);
    CHECK(agent.control(events_request("forgetme")).events().events(1).anonymous_id() == new_id);

    v1::ControlRequest unknown = forget_request("never-seen");
    AgentClient client(agent.socket());
    const auto error = client.control(unknown);
    REQUIRE(error);
    CHECK(error->error().find("unknown tool") != std::string::npos);
}

TEST_CASE("attributes are scrubbed and bounded before they are stored") {
    RunningAgent agent;
    auto event = make_event("scrub");
    auto& attributes = *event.mutable_attributes();
    const std::string home = agent.env().at("HOME");
    attributes["path"].set_string_value(home + "/project/main.cpp");
    attributes["mail"].set_string_value("write to jane.doe@example.com");
    attributes["addr"].set_string_value("peer 203.0.113.7 and 2001:db8::42");
    std::string big;
    while (big.size() < 5000) big += "word ";
    attributes["big"].set_string_value(big);
    attributes["count"].set_int_value(7);
    send_one(agent, tool_identity("scrubbed"), {}, event);
    const auto stored = agent.control(events_request("scrubbed")).events().events(0);
    CHECK(stored.attributes().at("path").string_value() == "~/project/main.cpp");
    CHECK(stored.attributes().at("mail").string_value() == "write to <email>");
    CHECK(stored.attributes().at("addr").string_value() == "peer <ip> and <ip>");
    CHECK(stored.attributes().at("big").string_value().size() == 1024);
    CHECK(stored.attributes().at("count").int_value() == 7);
}

TEST_CASE("a config file with an unknown key stops the agent at start") {
    TempDir dir;
    const auto config = dir / "agent.conf";
    {
        std::ofstream out(config);
        out << "[queue]\nmax_evnets = 5\n";
    }
    ProcessOptions options;
    options.argv = {binary("tk-agent").string(),
                    "--socket",
                    (dir / "agent.sock").string(),
                    "--home",
                    (dir / "home").string(),
                    "--config",
                    config.string()};
    const auto result = run(options, std::chrono::seconds(10));
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("unknown key 'queue.max_evnets'") != std::string::npos);
}
