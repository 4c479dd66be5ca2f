// The client against the real agent (tk-agent): fields, restarts, spool import, opt-out, the example tool.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
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
    CHECK(std::abs(build->timestamp_unix_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count()) < 60'000);
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
    REQUIRE(wait_until(
        [&] {
            events = agent.events("my-cli");
            return events.size() >= kEvents;
        },
        15s));
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

namespace {

/// Runs `body` in a forked child; its exit code (1 if it threw), or -1 if it did not end in 30 s.
int in_child(const std::function<int()>& body) {
    const pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int code = 1;
        try {
            code = body();
        } catch (...) {
        }
        ::_exit(code);  // never back into Catch2 (and no static destructors of the parent's)
    }
    int status = 0;
    const bool ended = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 30s);
    if (!ended) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("a child forked from a process holding a Client gets its events delivered, and so does the parent") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("forker");
    Client client(local_config("forker"));
    client.track_command("parent-before");
    REQUIRE(client.flush(5s));  // the I/O thread runs and holds a connection when we fork

    // A busy parent: its I/O thread is sending while the fork happens.
    constexpr int kParentEvents = 3000;
    for (int i = 0; i < kParentEvents; ++i) client.track_feature("parent-burst", {{"i", i}});
    constexpr int kChildEvents = 50;
    const int child = in_child([&] {
        // The child's own events, through the Client it inherited: a fresh I/O thread and connection.
        for (int i = 0; i < kChildEvents; ++i) client.track_feature("child", {{"i", i}});
        if (!client.flush(10s)) return 2;
        const auto stats = client.stats();
        if (stats.delivered != kChildEvents) return 3;  // not the parent's events, not dropped
        if (stats.dropped != 0 || stats.spooled != 0) return 4;
        return 0;
    });
    CHECK(child == 0);
    client.track_command("parent-after");
    REQUIRE(client.flush(10s));
    CHECK(client.stats().dropped == 0);

    std::vector<v1::Event> events;
    const std::size_t expected = 1 + kParentEvents + kChildEvents + 1;
    REQUIRE(wait_until([&] { return (events = agent.events("forker")).size() >= expected; }, 10s));
    std::map<std::string, std::set<std::int64_t>> seen;
    std::set<std::string> ids;
    for (const auto& event : events) {
        ids.insert(event.id());
        const auto it = event.attributes().find("i");
        seen[event.name()].insert(it == event.attributes().end() ? -1 : it->second.int_value());
    }
    CHECK(events.size() == expected);
    CHECK(ids.size() == expected);
    CHECK(seen["child"].size() == kChildEvents);
    CHECK(seen["parent-burst"].size() == kParentEvents);
    CHECK(seen["parent-before"].size() == 1);
    CHECK(seen["parent-after"].size() == 1);
}

TEST_CASE("a forked child's Client hands its events over at the child's exit, without a flush") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("forker");
    auto client = std::make_unique<Client>(local_config("forker"));
    client->track_command("parent");
    REQUIRE(client->flush(5s));
    const int child = in_child([&] {
        client->track_command("child");
        client.reset();  // the child's exit path: the destructor hands the event over (or spools it)
        return 0;
    });
    CHECK(child == 0);
    std::vector<v1::Event> events;
    REQUIRE(wait_until([&] { return (events = agent.events("forker")).size() >= 2; }, 10s));
    std::set<std::string> names;
    for (const auto& event : events) names.insert(event.name());
    CHECK(names == std::set<std::string>{"parent", "child"});
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
    REQUIRE(wait_until(
        [&] {
            events = agent.events("my-cli");
            return events.size() >= 5;
        },
        10s));
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
    REQUIRE(wait_until(
        [&] {
            events = agent.events("demo-cli");
            return events.size() >= 3;
        },
        10s));
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
