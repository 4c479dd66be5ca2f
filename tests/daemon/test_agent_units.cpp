// Unit tests of the agent's pure parts: policy, scrubbing and bounds, anonymous ids, config.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/process.hpp"
#include "tk/agent/config.hpp"
#include "tk/agent/identity.hpp"
#include "tk/agent/intake.hpp"
#include "tk/agent/policy.hpp"
#include "tk/agent/scrubber.hpp"
#include "tk/agent/session.hpp"
#include "tk/agent/store.hpp"

using namespace tk::agent;
namespace v1 = telemetry_kit::v1;

TEST_CASE("opt-out values: any non-empty value but 0 and false") {
    CHECK(opt_out_value("1"));
    CHECK(opt_out_value("true"));
    CHECK(opt_out_value("yes"));
    CHECK(opt_out_value("anything"));
    CHECK_FALSE(opt_out_value(""));
    CHECK_FALSE(opt_out_value("0"));
    CHECK_FALSE(opt_out_value("false"));
    CHECK_FALSE(opt_out_value("FALSE"));
    CHECK_FALSE(opt_out_value("False"));
}

TEST_CASE("policy precedence") {
    v1::ToolIdentity tool;
    tool.set_tool("t");
    tool.set_consent_mode(v1::CONSENT_MODE_OPT_OUT);
    v1::OptOutSignals none;
    v1::OptOutSignals dnt;
    dnt.set_do_not_track("1");
    v1::OptOutSignals disabled;
    disabled.set_tool_disabled("true");
    v1::OptOutSignals ci;
    ci.add_ci_markers("CI");

    CHECK(decide(tool, none, v1::CONSENT_UNSET, v1::CONSENT_UNSET).keep);
    CHECK(decide(tool, none, v1::CONSENT_DENIED, v1::CONSENT_GRANTED).reason == std::string("global_off"));
    CHECK(decide(tool, dnt, v1::CONSENT_UNSET, v1::CONSENT_GRANTED).reason == std::string("do_not_track"));
    CHECK(decide(tool, disabled, v1::CONSENT_UNSET, v1::CONSENT_GRANTED).reason == std::string("tool_disabled"));
    CHECK(decide(tool, ci, v1::CONSENT_UNSET, v1::CONSENT_GRANTED).reason == std::string("ci"));
    tool.set_allow_ci(true);
    const auto tagged = decide(tool, ci, v1::CONSENT_UNSET, v1::CONSENT_UNSET);
    CHECK(tagged.keep);
    CHECK(tagged.ci);
    CHECK(decide(tool, ci, v1::CONSENT_UNSET, v1::CONSENT_DENIED).reason == std::string("consent_denied"));
    // Global off wins over everything, DNT over the tool's variable.
    v1::OptOutSignals both = dnt;
    both.set_tool_disabled("1");
    CHECK(decide(tool, both, v1::CONSENT_UNSET, v1::CONSENT_UNSET).reason == std::string("do_not_track"));
    CHECK(decide(tool, both, v1::CONSENT_DENIED, v1::CONSENT_UNSET).reason == std::string("global_off"));
    // Opt-in: nothing without a grant; the person's grant wins over the default.
    tool.set_consent_mode(v1::CONSENT_MODE_OPT_IN);
    CHECK(decide(tool, none, v1::CONSENT_UNSET, v1::CONSENT_UNSET).reason == std::string("consent_unset"));
    CHECK(decide(tool, none, v1::CONSENT_UNSET, v1::CONSENT_GRANTED).keep);
    CHECK(decide(tool, none, v1::CONSENT_GRANTED, v1::CONSENT_UNSET).reason == std::string("consent_unset"));
}

namespace {

v1::ControlRequest consent_as(v1::Caller caller, v1::ConsentRequest::Action action, const std::string& tool,
                              bool all = false) {
    v1::ControlRequest request;
    request.set_caller(caller);
    request.mutable_consent()->set_action(action);
    request.mutable_consent()->set_tool(tool);
    request.mutable_consent()->set_all(all);
    return request;
}

}  // namespace

TEST_CASE("control_refusal: a tool records only its first-run answer, the person changes anything") {
    using A = v1::ConsentRequest;
    const auto tool = v1::CALLER_TOOL;
    const auto person = v1::CALLER_PERSON;
    const auto unset = v1::CONSENT_UNSET;
    const auto granted = v1::CONSENT_GRANTED;
    const auto denied = v1::CONSENT_DENIED;
    const auto refused = [](const v1::ControlRequest& request, std::string_view hello, v1::Consent global,
                            v1::Consent consent) { return !control_refusal(request, hello, global, consent).empty(); };

    // The first-run prompt: its own tool, while unset, either answer.
    CHECK_FALSE(refused(consent_as(tool, A::ACTION_GRANT, "t"), "", unset, unset));
    CHECK_FALSE(refused(consent_as(tool, A::ACTION_DENY, "t"), "t", unset, unset));
    CHECK_FALSE(refused(consent_as(tool, A::ACTION_STATUS, "t"), "", unset, granted));
    // Not over the person's choice, either way; never a reset.
    CHECK(refused(consent_as(tool, A::ACTION_GRANT, "t"), "", unset, denied));
    CHECK(refused(consent_as(tool, A::ACTION_DENY, "t"), "", unset, granted));
    CHECK(refused(consent_as(tool, A::ACTION_GRANT, "t"), "", unset, granted));
    CHECK(refused(consent_as(tool, A::ACTION_RESET, "t"), "", unset, denied));
    CHECK(refused(consent_as(tool, A::ACTION_RESET, "t"), "", unset, unset));
    CHECK_THAT(control_refusal(consent_as(tool, A::ACTION_GRANT, "t"), "", unset, denied),
               Catch::Contains("only `tk consent` changes it"));
    // Not while every tool is off; a denial is still fine.
    CHECK(refused(consent_as(tool, A::ACTION_GRANT, "t"), "", denied, unset));
    CHECK_FALSE(refused(consent_as(tool, A::ACTION_DENY, "t"), "", denied, unset));
    // Not another tool's (after a Hello as "t"), not every tool, not the global switch.
    CHECK(refused(consent_as(tool, A::ACTION_GRANT, "other"), "t", unset, unset));
    CHECK(refused(consent_as(tool, A::ACTION_STATUS, "other"), "t", unset, unset));
    CHECK(refused(consent_as(tool, A::ACTION_STATUS, "", true), "", unset, unset));
    CHECK(refused(consent_as(tool, A::ACTION_STATUS, ""), "", unset, unset));
    CHECK(refused(consent_as(tool, A::ACTION_DENY, "", true), "", unset, unset));
    CHECK(refused(consent_as(tool, A::ACTION_GRANT, ""), "", unset, unset));
    // The person: anything.
    CHECK_FALSE(refused(consent_as(person, A::ACTION_GRANT, "t"), "", denied, denied));
    CHECK_FALSE(refused(consent_as(person, A::ACTION_RESET, "", true), "t", unset, granted));
    CHECK_FALSE(refused(consent_as(person, A::ACTION_DENY, "other"), "t", unset, granted));

    // Other commands: no status (every tool's name and collector) nor other tools' events (their
    // anonymous ids) for a tool; its own events and data after its Hello; flush is harmless.
    v1::ControlRequest request;
    request.mutable_status();
    CHECK(refused(request, "t", unset, unset));
    request.set_caller(person);
    CHECK_FALSE(refused(request, "", unset, unset));
    request = {};
    request.mutable_events()->set_tool("t");
    CHECK_FALSE(refused(request, "t", unset, unset));
    CHECK(refused(request, "", unset, unset));
    request.mutable_events()->set_tool("");
    CHECK(refused(request, "t", unset, unset));
    request.mutable_events()->set_tool("other");
    CHECK(refused(request, "t", unset, unset));
    request = {};
    request.mutable_forget()->set_tool("t");
    CHECK_FALSE(refused(request, "t", unset, unset));
    request.mutable_forget()->set_tool("");
    CHECK(refused(request, "t", unset, unset));
    request = {};
    request.mutable_flush();
    CHECK_FALSE(refused(request, "", unset, unset));
    // A manifest is public: any tool's, by anyone (the consent prompt asks before any Hello).
    request = {};
    request.mutable_manifest()->set_tool("other");
    CHECK_FALSE(refused(request, "t", unset, unset));
    CHECK_FALSE(refused(request, "", unset, unset));
}

TEST_CASE("scrubbing: home, user, e-mail, IP addresses") {
    const Scrubber scrubber("/home/alice", "alice");
    auto scrubbed = [&](std::string text) {
        scrubber.scrub(text);
        return text;
    };
    CHECK(scrubbed("/home/alice/src/app") == "~/src/app");
    CHECK(scrubbed("/home/alice") == "~");
    CHECK(scrubbed("/home/alicexyz/a") == "/home/<user>/a");  // another person's home
    CHECK(scrubbed("user alice ran it") == "user <user> ran it");
    CHECK(scrubbed("malice") == "malice");
    CHECK(scrubbed("mail alice@example.com now") == "mail <email> now");
    CHECK(scrubbed("a.b+c@sub.example.org.") == "<email>.");
    CHECK(scrubbed("not@email") == "not@email");
    CHECK(scrubbed("connect 192.168.1.20:8080") == "connect <ip>:8080");
    CHECK(scrubbed("ip=10.0.0.1.") == "ip=<ip>.");
    CHECK(scrubbed("[2001:db8::1]:443") == "[<ip>]:443");
    CHECK(scrubbed("::1") == "<ip>");
    CHECK(scrubbed("fe80::1ff:fe23:4567:890a") == "<ip>");
    CHECK(scrubbed("std::vector<int>") == "std::vector<int>");
    CHECK(scrubbed("at 12:30:00") == "at 12:30:00");
    CHECK(scrubbed("version 1.2.3") == "version 1.2.3");
    CHECK(scrubbed("999.1.1.1") == "999.1.1.1");
    CHECK(scrubbed("build 42 ok") == "build 42 ok");
}

TEST_CASE("bounds: attribute count, key and value sizes, name") {
    const Scrubber scrubber("", "");
    v1::Event event;
    event.set_name(std::string(200, 'n'));
    auto& attributes = *event.mutable_attributes();
    for (int i = 0; i < 70; ++i) {
        char key[8];
        std::snprintf(key, sizeof key, "k%02d", i);
        attributes[key].set_int_value(i);
    }
    attributes[std::string(65, 'x')].set_bool_value(true);
    // The limit falls inside the last word, which is dropped whole (see test_scrubber.cpp).
    attributes["a_long"].set_string_value(std::string(1000, 'v') + " " + std::string(22, 'w') + "\xc3\xa9" + "tail");
    const auto result = scrubber.apply(event);
    const std::size_t dropped = result.dropped_attributes;
    CHECK(result.changed);
    CHECK(event.name().size() == kMaxEventNameBytes);
    CHECK(event.attributes_size() == static_cast<int>(kMaxAttributes));
    CHECK(dropped == 72 - kMaxAttributes);
    CHECK(event.attributes().count(std::string(65, 'x')) == 0);
    CHECK(event.attributes().count("k00") == 1);
    CHECK(event.attributes().count("k69") == 0);  // the last in byte order go first
    CHECK(event.attributes().at("a_long").string_value() == std::string(1000, 'v') + " ");
    // 1023 ASCII bytes, then a 2-byte character that would straddle the limit.
    std::string straddles = std::string(1023, 'v') + "\xc3\xa9" + "tail";
    truncate_utf8(straddles, 1024);
    CHECK(straddles == std::string(1023, 'v'));
}

TEST_CASE("anonymous ids: per tool, per generation, 32 hex digits, keyed by the secret") {
    const std::string secret(32, 's');
    const auto a0 = anonymous_id(secret, "alpha", 0);
    CHECK(a0.size() == 32);
    CHECK(a0.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a0 == anonymous_id(secret, "alpha", 0));
    CHECK(a0 != anonymous_id(secret, "beta", 0));
    CHECK(a0 != anonymous_id(secret, "alpha", 1));
    CHECK(a0 != anonymous_id(std::string(32, 't'), "alpha", 0));
}

TEST_CASE("install secret: made once, 32 bytes, mode 0600") {
    tk::test::TempDir dir;
    const auto file = dir / "install-secret";
    const auto first = load_or_create_install_secret(file);
    CHECK(first.size() == 32);
    CHECK(load_or_create_install_secret(file) == first);
    CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
}

TEST_CASE("config: keys are read, unknown keys and bad values are errors") {
    tk::test::TempDir dir;
    const auto file = dir / "agent.conf";
    std::ofstream(file) << "[queue]\nmax_events = 10\nmax_bytes = 2048\nretention_days = 2\n"
                           "[forwarder]\ncoalesce_ms = 5\nca_file = /etc/ca.pem\n";
    const auto config = load_config(file, true);
    CHECK(config.max_queue_events == 10);
    CHECK(config.max_queue_bytes == 2048);
    CHECK(config.retention == std::chrono::hours(48));
    CHECK(config.forwarder.coalesce == std::chrono::milliseconds(5));
    CHECK(config.forwarder.ca_file == "/etc/ca.pem");
    CHECK(load_config(dir / "missing.conf", false).max_queue_events == AgentConfig{}.max_queue_events);
    CHECK_THROWS(load_config(dir / "missing.conf", true));
    std::ofstream(file) << "[queue]\nmax_event = 10\n";
    CHECK_THROWS_WITH(load_config(file, true), Catch::Contains("unknown key 'queue.max_event'"));
    std::ofstream(file) << "[queue]\nmax_events = -3\n";
    CHECK_THROWS_WITH(load_config(file, true), Catch::Contains("non-negative integer"));
    // The documented defaults parse.
    std::ofstream(file) << default_config_text();
    CHECK_NOTHROW(load_config(file, true));
}

TEST_CASE("config: agent.idle_exit_s") {
    tk::test::TempDir dir;
    const auto file = dir / "agent.conf";
    CHECK(AgentConfig{}.idle_exit == std::chrono::seconds(900));
    std::ofstream(file) << "[agent]\nidle_exit_s = 30\n";
    CHECK(load_config(file, true).idle_exit == std::chrono::seconds(30));
    std::ofstream(file) << "[agent]\nidle_exit_s = 0\n";
    CHECK(load_config(file, true).idle_exit == std::chrono::seconds(0));
    std::ofstream(file) << "[agent]\nidle_exit_s = soon\n";
    CHECK_THROWS_WITH(load_config(file, true),
                      Catch::Contains("agent.idle_exit_s: expected a non-negative integer, got 'soon'"));
    std::ofstream(file) << "[agent]\nidle_exit_s = -1\n";
    CHECK_THROWS_WITH(load_config(file, true), Catch::Contains("agent.idle_exit_s: expected a non-negative integer"));
    std::ofstream(file) << "[agent]\nidle_exit_s = 99999999999\n";
    CHECK_THROWS_WITH(load_config(file, true), Catch::Contains("agent.idle_exit_s: at most 31536000"));
    CHECK_THAT(default_config_text(), Catch::Contains("[agent]\n") && Catch::Contains("idle_exit_s = 900\n"));
}

TEST_CASE("config: agent.connection_idle_timeout_s and agent.max_connections") {
    tk::test::TempDir dir;
    const auto file = dir / "agent.conf";
    CHECK(AgentConfig{}.connection_idle_timeout == std::chrono::seconds(60));
    CHECK(AgentConfig{}.max_connections == 1024);
    std::ofstream(file) << "[agent]\nconnection_idle_timeout_s = 5\nmax_connections = 8\n";
    const auto config = load_config(file, true);
    CHECK(config.connection_idle_timeout == std::chrono::seconds(5));
    CHECK(config.max_connections == 8);
    std::ofstream(file) << "[agent]\nconnection_idle_timeout_s = 0\n";
    CHECK(load_config(file, true).connection_idle_timeout == std::chrono::seconds(0));  // never
    std::ofstream(file) << "[agent]\nmax_connections = 0\n";
    CHECK_THROWS_WITH(load_config(file, true), Catch::Contains("agent.max_connections: must be at least 1"));
    std::ofstream(file) << "[agent]\nconnection_idle_timeout_s = soon\n";
    CHECK_THROWS_WITH(load_config(file, true), Catch::Contains("agent.connection_idle_timeout_s: expected"));
    CHECK_THAT(default_config_text(),
               Catch::Contains("connection_idle_timeout_s = 60\n") && Catch::Contains("max_connections = 1024\n"));
}

TEST_CASE("pending replies: over the count, or over the bytes once there is more than one") {
    SessionLimits limits;
    limits.max_pending_replies = 4;
    limits.max_pending_reply_bytes = 100;
    CHECK_FALSE(replies_over_limit(4, 50, limits));
    CHECK(replies_over_limit(5, 50, limits));
    CHECK_FALSE(replies_over_limit(1, 1000, limits));  // one large reply is bounded by the frame limit
    CHECK(replies_over_limit(2, 101, limits));
}

TEST_CASE("stored as sent (no parse) = parsed and accepted: the same bytes, for every event it takes") {
    tk::test::TempDir dir;
    EventStore store(dir / "queue.db", StoreOptions{});  // Intake needs one; accepting never writes to it
    ToolRegistry registry(std::string(32, 's'), StoredState{});
    Intake intake(registry, store, Scrubber("/home/alice", "alice"));
    auto& tool = registry.get_or_add("demo");
    registry.set_consent(tool, v1::CONSENT_GRANTED);
    ToolContext context;
    context.hello.mutable_tool()->set_tool("demo");
    context.hello.mutable_tool()->set_version("1.0.0");
    context.tool = &tool;
    context.tool_version = "1.0.0";

    const std::vector<std::string> names = {"build", std::string(200, 'n'), "caf\xc3\xa9"};
    const std::vector<std::string> versions = {"", "2.1", std::string(100, 'v')};
    const std::vector<std::string> keys = {"target", "a", "", std::string(70, 'k'), "z\xff"};
    const std::vector<std::string> strings = {
        "release", "/home/alice/src", "bob@example.com", std::string(1100, 'x'), "\xff\xfe", ""};
    std::size_t as_sent = 0;
    std::size_t parsed = 0;
    for (std::size_t n = 0; n < 600; ++n) {
        v1::Event event;
        event.set_id(std::string(n % 37 == 0 ? 8 : 16, static_cast<char>('a' + n % 26)));
        event.set_name(names[n % names.size()]);
        event.set_tool_version(versions[(n / 3) % versions.size()]);
        if (n % 5 == 0) event.set_tool("demo");
        event.set_kind(v1::EVENT_KIND_COMMAND);
        if (n % 2 == 0) event.set_success(n % 4 == 0);
        auto& attributes = *event.mutable_attributes();
        for (std::size_t a = 0; a < n % 5; ++a) {
            auto& value = attributes[keys[(n + a) % keys.size()] + std::to_string(a % 2 == 0 ? 0 : a)];
            if ((n + a) % 3 == 0)
                value.set_int_value(static_cast<std::int64_t>(n));
            else
                value.set_string_value(strings[(n * 7 + a) % strings.size()]);
        }
        // Protobuf's own bytes: attributes in hash order, or in key order.
        std::string raw;
        if (n % 2 == 0)
            raw = event.SerializeAsString();
        else
            serialize_canonical(event, raw);
        INFO("event " << n);
        IntakeBatch fast;
        IntakeBatch slow;
        const bool took = intake.accept_as_sent(context, raw, fast);
        v1::Event decoded;
        const bool parses = decoded.ParseFromString(raw);
        if (took) {
            ++as_sent;
            REQUIRE(parses);  // never stores what protobuf would refuse
            REQUIRE(intake.accept(context, decoded, slow));
            REQUIRE(fast.events.size() == 1);
            REQUIRE(slow.events.size() == 1);
            CHECK(fast.events[0].id == slow.events[0].id);
            CHECK(fast.events[0].payload == slow.events[0].payload);
        } else {
            CHECK(fast.events.empty());
            CHECK(fast.dropped.empty());
            if (parses) ++parsed;
        }
    }
    CHECK(as_sent > 50);  // both paths are exercised
    CHECK(parsed > 50);
}

TEST_CASE("lone_event: the varint peek finds an Event that is the whole ClientFrame, and nothing else") {
    v1::Event event;
    event.set_tool("t");
    event.set_name(std::string(200, 'n'));  // a length that takes two varint bytes
    v1::ClientFrame frame;
    *frame.mutable_event() = event;
    const std::string payload = frame.SerializeAsString();
    const auto lone = lone_event(payload);
    REQUIRE(lone);
    CHECK(*lone == event.SerializeAsString());

    SECTION("a one-byte length") {
        v1::ClientFrame small;
        small.mutable_event()->set_name("x");
        const std::string bytes = small.SerializeAsString();
        REQUIRE(lone_event(bytes));
        CHECK(*lone_event(bytes) == small.event().SerializeAsString());
    }
    SECTION("any other frame, a truncated or over-long one, or a length past the end") {
        v1::ClientFrame hello;
        hello.mutable_hello()->set_protocol_version(1);
        CHECK_FALSE(lone_event(hello.SerializeAsString()));
        CHECK_FALSE(lone_event(payload.substr(0, payload.size() - 1)));           // the length runs past the end
        CHECK_FALSE(lone_event(payload + "x"));                                   // bytes after the event
        CHECK_FALSE(lone_event(std::string("\x12", 1)));                          // no length at all
        CHECK_FALSE(lone_event(std::string("\x12\x80", 2)));                      // an unfinished varint
        CHECK_FALSE(lone_event(std::string("\x12\xff\xff\xff\xff\xff\x01", 7)));  // longer than 35 bits
        CHECK_FALSE(lone_event(""));
        CHECK(lone_event(std::string("\x12\x00", 2)) == std::string_view());  // an empty event is still one
    }
}
