// A collector's quota_exceeded seen end to end: the real tk-agent and tk, the real tk-collector
// over a throwaway PostgreSQL, and a clock the test controls (TK_TEST_NOW_FILE) for the month's
// turn. The agent pauses exactly that tool at that collector, keeps its events, says so in
// tk status, comes back paused after a restart, and resumes after the reset losing nothing.
#include <catch2/catch.hpp>

#include "../collector/http_client.hpp"
#include "../daemon/agent_client.hpp"
#include "support/collector_fixture.hpp"
#include "sending_tool.hpp"
#include "support/process.hpp"
#include "support/test_clock.hpp"

using namespace std::chrono_literals;
using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

constexpr std::int64_t kJan31Late = 1'801'439'940'000;  // 2027-01-31 23:59:00 UTC
constexpr std::int64_t kFeb1 = 1'801'440'000'000;       // 2027-02-01 00:00:00 UTC

/// Batches the collector refused with quota_exceeded for `tool` (its /metrics): how often the agent asked.
long long refused_batches(const CollectorFixture& collector, const std::string& tool) {
    const std::string metrics = http_request(collector.port(), boost::beast::http::verb::get, "/metrics").body;
    const std::string name = "tk_collector_quota_exceeded_total{tool=\"" + tool + "\"} ";
    const auto at = metrics.find(name);
    return at == std::string::npos ? 0 : std::stoll(metrics.substr(at + name.size()));
}

const v1::ToolStatus* tool_status(const v1::StatusResponse& status, const std::string& tool) {
    for (const auto& t : status.tools()) {
        if (t.tool() == tool) return &t;
    }
    return nullptr;
}

std::int64_t paused_until(RunningAgent& agent, const std::string& tool) {
    const auto status = agent.status();
    const auto* t = tool_status(status, tool);
    return t ? t->paused_until_unix_ms() : -1;
}

}  // namespace

TEST_CASE(
    "agent: quota_exceeded pauses exactly that tool and collector until the reset, across a restart, losing nothing") {
    TestClock clock(kJan31Late);
    CollectorFixture collector;
    const std::string small_key = collector.create_key("small");
    const std::string other_key = collector.create_key("other");
    REQUIRE(collector.run_command({"tools", "add", "small", "--monthly-quota", "3"}).exit_code == 0);
    RunningAgent agent(kQuickForwarderConfig);
    const auto small = identity("small", collector.base_url(), small_key);
    const auto other = identity("other", collector.base_url(), other_key);

    send_events(agent, small, 3);
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'small'") == 3; }));

    // The quota is spent: the next batch is refused, and the agent pauses "small" only.
    send_events(agent, small, 2);
    send_events(agent, other, 2);
    REQUIRE(wait_until([&] { return paused_until(agent, "small") == kFeb1; }));
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'other'") == 2; }));
    CHECK(collector.count_events("tool = 'small'") == 3);
    CHECK(tool_status(agent.status(), "small")->queued() == 2);
    CHECK(tool_status(agent.status(), "other")->paused_until_unix_ms() == 0);
    const auto shown = agent.tk({"status"});
    CHECK(shown.exit_code == 0);
    CHECK(shown.out.find("tool small: paused by collector (monthly quota) until 2027-02-01 00:00 UTC") !=
          std::string::npos);

    // While paused, other tools go on and "small" asks nothing (no retry storm): still one refusal.
    send_events(agent, small, 1);
    send_events(agent, other, 3);
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'other'") == 5; }));
    CHECK(refused_batches(collector, "small") == 1);
    CHECK(tool_status(agent.status(), "small")->queued() == 3);

    // The pause is saved: a restarted agent is still paused and asks nothing either.
    REQUIRE(agent.stop() == 0);
    agent.start();
    CHECK(paused_until(agent, "small") == kFeb1);
    send_events(agent, other, 1);
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'other'") == 6; }));
    CHECK(refused_batches(collector, "small") == 1);

    // The month turns (the collector's quota and the agent's pause read the same test clock). The
    // agent looks at its pauses on every pass (and on a timer): any tool's new event makes one.
    clock.set(kFeb1 + 1000);
    send_events(agent, other, 1);
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'small'") == 6; }));
    REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }));
    CHECK(paused_until(agent, "small") == 0);
    CHECK(refused_batches(collector, "small") == 1);
    CHECK(collector.count_events() == 13);  // 3 + 3 small, 7 other: nothing lost, nothing twice
}
