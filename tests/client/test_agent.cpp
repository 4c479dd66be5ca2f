// The client against the real agent (tk-agent): fields, restarts, spool import, opt-out, the example tool.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "agent_support.hpp"
#include "telemetry_kit/client.hpp"

using namespace tk::test;
using namespace std::chrono_literals;
using telemetry_kit::Client;
namespace v1 = telemetry_kit::v1;

namespace {

// Local-only (no endpoint), so the agent keeps everything queued for us to read back.
telemetry_kit::Config local_config(const std::string& tool) { return {tool, "2.3.4"}; }

const v1::Event* find_event(const std::vector<v1::Event>& events, const std::string& name) {
    for (const auto& event : events) {
        if (event.name() == name) return &event;
    }
    return nullptr;
}

}  // namespace

TEST_CASE("events reach the agent with the right fields") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("my-cli");
    {
        Client client(local_config("my-cli"));
        client.track_command("build", {{"target", "release"}, {"jobs", 8}, {"ratio", 0.5}, {"cached", true}})
            .success(false)
            .duration(1234us)
            .exit_code(3);
        client.track_feature("cache.remote");
        REQUIRE(client.flush(5s));
        const auto stats = client.stats();
        CHECK(stats.delivered == 2);
        CHECK(stats.spooled == 0);
        CHECK(stats.dropped == 0);
    }
    const auto events = agent.events("my-cli");
    REQUIRE(events.size() == 2);
    const v1::Event* build = find_event(events, "build");
    REQUIRE(build != nullptr);
    CHECK(build->id().size() == 16);
    CHECK(build->tool() == "my-cli");
    CHECK(build->tool_version() == "2.3.4");
    CHECK(build->kind() == v1::EVENT_KIND_COMMAND);
    CHECK_FALSE(build->success());
    CHECK(build->duration_us() == 1234);
    CHECK(build->exit_code() == 3);
    CHECK(build->attributes().at("target").string_value() == "release");
    CHECK(build->attributes().at("jobs").int_value() == 8);
    CHECK(build->attributes().at("ratio").double_value() == 0.5);
    CHECK(build->attributes().at("cached").bool_value());
    CHECK_FALSE(build->anonymous_id().empty());  // set by the agent
    CHECK(std::abs(build->timestamp_unix_ms() -
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count()) < 60'000);
    const v1::Event* feature = find_event(events, "cache.remote");
    REQUIRE(feature != nullptr);
    CHECK(feature->kind() == v1::EVENT_KIND_FEATURE);
    CHECK_FALSE(feature->has_success());
}

TEST_CASE("the destructor hands queued events to the agent without a flush") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("my-cli");
    {
        Client client(local_config("my-cli"));
        for (int i = 0; i < 100; ++i) client.track_command("run", {{"i", i}});
    }
    REQUIRE(wait_until([&] { return agent.events("my-cli").size() == 100; }, 10s));
    CHECK_FALSE(fs::exists(env.spool()));
}

TEST_CASE("the agent killed mid-stream and restarted: the host goes on, every event is stored once") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("my-cli");
    constexpr int kEvents = 3000;
    {
        Client client(local_config("my-cli"));
        for (int i = 0; i < kEvents; ++i) {
            if (i == 1000) agent.kill();   // SIGKILL: whatever it had not committed is lost to it
            if (i == 2000) agent.start();  // back on the same socket and home
            client.track_command("step", {{"i", i}});
        }
        REQUIRE(client.flush(10s));
        const auto stats = client.stats();
        INFO("delivered " << stats.delivered << " spooled " << stats.spooled << " dropped " << stats.dropped
                          << " reconnects " << stats.reconnects);
        CHECK(stats.dropped == 0);
        CHECK(stats.delivered + stats.spooled == kEvents);
        // Which path each event took (re-sent after reconnecting, or spooled because the agent
        // was down when the I/O thread or flush() looked) depends on timing; either is fine.
    }
    // Whatever went to the spool is imported when the agent starts: restart it once more.
    agent.stop();
    agent.start();
    std::vector<v1::Event> events;
    REQUIRE(wait_until([&] {
        events = agent.events("my-cli");
        return events.size() >= kEvents;
    }, 15s));
    std::set<std::int64_t> seen;
    std::set<std::string> ids;
    for (const auto& event : events) {
        seen.insert(event.attributes().at("i").int_value());
        ids.insert(event.id());
    }
    CHECK(events.size() == kEvents);  // each once: re-sent events were deduplicated by id
    CHECK(seen.size() == kEvents);
    CHECK(ids.size() == kEvents);
}

TEST_CASE("agent absent: events are spooled, and imported when the agent starts") {
    ClientHome env;
    {
        AgentUnderTest agent(env);
        agent.grant("my-cli");
        agent.stop();
    }
    {
        Client client(local_config("my-cli"));
        for (int i = 0; i < 5; ++i) client.track_command("offline", {{"i", i}});
        REQUIRE(client.flush(5s));
        CHECK(client.stats().spooled == 5);
    }
    REQUIRE(read_spool(env.spool()).size() == 5);
    AgentUnderTest agent(env);
    std::vector<v1::Event> events;
    REQUIRE(wait_until([&] {
        events = agent.events("my-cli");
        return events.size() >= 5;
    }, 10s));
    CHECK(events.size() == 5);
    CHECK(events[0].name() == "offline");
    CHECK_FALSE(events[0].anonymous_id().empty());
}

TEST_CASE("DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED and debug mode send nothing to a running agent") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("my-cli");
    {
        ScopedEnv dnt("DO_NOT_TRACK", "1");
        Client client(local_config("my-cli"));
        client.track_command("dnt");
        client.flush(1s);
    }
    {
        ScopedEnv disabled("MY_CLI_TELEMETRY_DISABLED", "true");
        Client client(local_config("my-cli"));
        client.track_command("disabled");
        client.flush(1s);
    }
    {
        ScopedEnv debug("TELEMETRY_KIT_DEBUG", "1");
        Client client(local_config("my-cli"));
        client.track_command("debug");
        client.flush(1s);
    }
    {
        Client client(local_config("my-cli"));  // a barrier: this one is sent and acknowledged
        client.track_command("sent");
        REQUIRE(client.flush(5s));
    }
    const auto events = agent.events("my-cli");
    REQUIRE(events.size() == 1);
    CHECK(events[0].name() == "sent");
    CHECK_FALSE(fs::exists(env.spool()));
}

TEST_CASE("demo-cli records each subcommand with its duration and outcome") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("demo-cli");
    auto run_demo = [&](std::vector<std::string> args) {
        ProcessOptions options;
        options.argv = {binary("demo-cli").string()};
        options.argv.insert(options.argv.end(), args.begin(), args.end());
        options.env = {{"TELEMETRY_KIT_HOME", env.home.string()}, {"TELEMETRY_KIT_SOCKET", env.socket.string()}};
        return run(options, 20s);
    };
    const RunResult greet = run_demo({"greet", "Ada"});
    CHECK(greet.exit_code == 0);
    CHECK(greet.out == "Hello, Ada!\n");
    CHECK(greet.err.empty());  // no terminal: no consent prompt
    CHECK(run_demo({"count", "3"}).out == "1\n2\n3\n");
    const RunResult fail = run_demo({"fail"});
    CHECK(fail.exit_code == 1);
    CHECK(run_demo({"--no-telemetry", "greet", "Bob"}).exit_code == 0);

    std::vector<v1::Event> events;
    REQUIRE(wait_until([&] {
        events = agent.events("demo-cli");
        return events.size() >= 3;
    }, 10s));
    CHECK(events.size() == 3);
    const v1::Event* greet_event = find_event(events, "greet");
    REQUIRE(greet_event != nullptr);
    CHECK(greet_event->success());
    CHECK(greet_event->has_duration_us());
    CHECK(greet_event->tool_version() == "1.0.0");
    CHECK(greet_event->attributes().empty());  // the name greeted is never sent
    const v1::Event* count_event = find_event(events, "count");
    REQUIRE(count_event != nullptr);
    CHECK(count_event->attributes().at("n").int_value() == 3);
    const v1::Event* fail_event = find_event(events, "fail");
    REQUIRE(fail_event != nullptr);
    CHECK_FALSE(fail_event->success());
    CHECK(fail_event->exit_code() == 1);
}
