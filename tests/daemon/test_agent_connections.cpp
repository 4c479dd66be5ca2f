// Connection bounds of the real tk-agent (docs/agent.md, "Connection bounds"): idle connections
// time out, the number of connections is capped, a client that never reads its replies cannot grow
// the agent's memory, and running out of descriptors makes the agent wait, not spin.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "agent_client.hpp"
#include "tk/agent/log_throttle.hpp"
#include "tk/common/framing.hpp"

using namespace tk::test;
using namespace std::chrono_literals;
namespace v1 = telemetry_kit::v1;
using Clock = std::chrono::steady_clock;

namespace {

/// Lines of `text` containing `needle`.
std::size_t count_lines(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    std::size_t count = 0;
    for (std::string line; std::getline(in, line);) count += line.find(needle) != std::string::npos;
    return count;
}

/// Waits up to `deadline` for `predicate`.
template <typename Predicate>
bool eventually(Predicate predicate, Clock::duration deadline = 10s) {
    const auto until = Clock::now() + deadline;
    while (!predicate()) {
        if (Clock::now() > until) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

/// The resident set of `pid` in KiB (VmRSS).
std::size_t rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
    }
    return 0;
}

/// CPU time (user + system) `pid` has used, in clock ticks.
std::uint64_t cpu_ticks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    for (int i = 3; fields >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) {
            stime = std::stoull(field);
            break;
        }
    }
    return utime + stime;
}

/// A fresh connection that says Hello and gets a flush ack: the agent serves it.
bool served(RunningAgent& agent) {
    try {
        AgentClient client(agent.socket());
        return client.hello(tool_identity("probe")) && client.flush(2s).has_value();
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

TEST_CASE("log throttle: one line per interval, counting what it held back") {
    tk::agent::LogThrottle throttle(10s);
    const Clock::time_point t0{};
    CHECK(throttle.allow(t0));
    CHECK(throttle.held_back() == 0);
    CHECK_FALSE(throttle.allow(t0 + 1s));
    CHECK_FALSE(throttle.allow(t0 + 9s));
    CHECK(throttle.allow(t0 + 10s));
    CHECK(throttle.held_back() == 2);
    CHECK_FALSE(throttle.allow(t0 + 11s));
    CHECK(throttle.allow(t0 + 60s));
    CHECK(throttle.held_back() == 1);
}

TEST_CASE("an idle connection is closed after agent.connection_idle_timeout_s, a talking one is not") {
    RunningAgent agent("[agent]\nconnection_idle_timeout_s = 1\n");
    AgentClient idle(agent.socket());
    REQUIRE(idle.hello(tool_identity("idle")));
    const auto start = Clock::now();
    CHECK(idle.closed_by_agent(10s));
    CHECK(Clock::now() - start >= 900ms);

    // Events every 200 ms for 2.5 s: never idle for a whole second, so never closed.
    AgentClient talking(agent.socket());
    REQUIRE(talking.hello(tool_identity("talking", true)));
    const auto until = Clock::now() + 2500ms;
    int sent = 0;
    while (Clock::now() < until) {
        REQUIRE(talking.event(make_event("tick")));
        ++sent;
        std::this_thread::sleep_for(200ms);  // pacing the client, not waiting for the agent
    }
    const auto ack = talking.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == static_cast<std::uint64_t>(sent));
}

TEST_CASE("past agent.max_connections a connection is closed at once, logged at most every 10 s") {
    RunningAgent agent("[agent]\nmax_connections = 4\n");
    std::vector<std::unique_ptr<AgentClient>> open;
    for (int i = 0; i < 4; ++i) {
        open.push_back(std::make_unique<AgentClient>(agent.socket()));
        REQUIRE(open.back()->hello(tool_identity("capped", true)));
        REQUIRE(open.back()->flush());  // served: its session exists and is counted
    }
    AgentClient fifth(agent.socket());
    CHECK(fifth.closed_by_agent(5s));
    for (int i = 0; i < 40; ++i) {
        AgentClient more(agent.socket());
        CHECK(more.closed_by_agent(5s));
    }
    // The first four still work.
    for (auto& client : open) {
        REQUIRE(client->event(make_event("still")));
        const auto ack = client->flush();
        REQUIRE(ack);
        CHECK(ack->accepted() == 1);
    }
    const std::string log = agent.log();
    const auto lines = count_lines(log, "agent.max_connections");
    CHECK(lines >= 1);
    CHECK(lines <= 2);  // 41 refusals, all within a 10 s window (or two, if the run straddles one)
    // One closes: a new connection is served again.
    open.pop_back();
    CHECK(eventually([&] { return served(agent); }));
}

TEST_CASE("a client that sends flushes but never reads the acks is disconnected, agent memory stays bounded") {
    RunningAgent agent;
    const pid_t pid = agent.process().pid();
    REQUIRE(served(agent));
    const std::size_t rss_before = rss_kib(pid);

    AgentClient greedy(agent.socket());
    REQUIRE(greedy.hello(tool_identity("greedy", true)));
    std::string burst;
    for (int i = 0; i < 1000; ++i) {
        v1::ClientFrame frame;
        frame.mutable_flush()->set_request_id(static_cast<std::uint64_t>(i + 1));
        tk::framing::append_message(burst, frame);
    }
    // Up to two million flushes (the acks would take well over 100 MB), until the agent hangs up.
    const auto until = Clock::now() + 60s;
    for (int round = 0; round < 2000 && Clock::now() < until; ++round) {
        if (!greedy.send_raw(burst)) break;
    }
    CHECK(greedy.closed_by_agent(20s));
    const std::size_t rss_after = rss_kib(pid);
    INFO("agent RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
    CHECK(rss_after < rss_before + 32 * 1024);
    CHECK(agent.log().find("does not read its replies") != std::string::npos);
    CHECK(served(agent));
}

TEST_CASE("out of descriptors, the agent retries accept every 100 ms instead of spinning, then serves again") {
    // RLIMIT_NOFILE 48: the agent needs about 20 for itself; the connections below take the rest.
    RunningAgent agent("", {}, 48);
    const pid_t pid = agent.process().pid();
    std::vector<std::unique_ptr<AgentClient>> clients;
    for (int i = 0; i < 80; ++i) clients.push_back(std::make_unique<AgentClient>(agent.socket()));
    REQUIRE(eventually([&] { return agent.log().find("accept failed") != std::string::npos; }));

    // A window of 1.5 s out of descriptors: a busy loop would log thousands of lines and burn the
    // whole window in CPU time.
    const std::uint64_t ticks_before = cpu_ticks(pid);
    const auto window_end = Clock::now() + 1500ms;
    while (Clock::now() < window_end) std::this_thread::sleep_for(50ms);  // measuring, not waiting for it
    const std::uint64_t ticks = cpu_ticks(pid) - ticks_before;
    const long per_second = ::sysconf(_SC_CLK_TCK);
    INFO("agent CPU in the window: " << ticks << " ticks of " << per_second << " per second");
    CHECK(ticks < static_cast<std::uint64_t>(per_second) / 2);
    CHECK(count_lines(agent.log(), "accept failed") <= 2);

    // The descriptors come back: every waiting connection is taken, and new ones are served.
    clients.clear();
    CHECK(eventually([&] { return served(agent); }));
    CHECK(agent.status().queue_events() == 0);
}
