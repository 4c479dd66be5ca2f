// The dashboard's speed over a data set of any size (issue 11: every panel rendered <= 1 s after
// navigation). A throwaway PostgreSQL and tk-collector; --events events of the browser test's
// plausible tool sent through the real ingest path; then bench_dashboard.mjs loads the page in
// headless Chromium and prints, as medians of reloads, the time until every panel has rendered
// next to the same API requests made without a browser, in the same run.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <iostream>

#include "browser/dashboard_events.hpp"
#include "support/collector_fixture.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace tk::test;

/// Sends `count` events in 1,000-event batches over one keep-alive connection; throws on a refusal.
void load(const CollectorFixture& collector, const std::string& key, int count) {
    constexpr int kChunk = 100'000;  // generated a chunk at a time: bounded memory for any --events
    const int installs = std::max(120, count / 33);
    HttpConnection connection(collector.port());
    for (int done = 0; done < count; done += kChunk) {
        const auto events =
            dashboard_events(std::min(kChunk, count - done), installs, 11 + static_cast<std::uint64_t>(done));
        for (std::size_t start = 0; start < events.size(); start += 1000) {
            Batch batch;
            for (std::size_t i = start; i < std::min(events.size(), start + 1000); ++i) *batch.add_events() = events[i];
            const auto response =
                connection.request(http::verb::post, "/v1/batches", batch.SerializeAsString(),
                                   {{"Content-Type", "application/x-protobuf"}, {"Authorization", "Bearer " + key}});
            if (response.status != 200)
                throw std::runtime_error(fmt::format("ingest answered {}: {}", response.status, response.body));
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"The dashboard in headless Chromium over --events events (docs/benchmarks.md)"};
    int events = 200'000;
    int runs = 3;
    app.add_option("--events", events, "events to load (8 weeks, about half in the page's 30 days)")
        ->check(CLI::PositiveNumber);
    app.add_option("--runs", runs, "reloads measured (the median is printed)")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    ::signal(SIGPIPE, SIG_IGN);
    try {
        CollectorFixture collector;
        const auto started = Clock::now();
        load(collector, collector.create_key("demo-cli"), events);
        std::cout << fmt::format("loaded {} events through POST /v1/batches in {:.1f} s\n", events,
                                 std::chrono::duration<double>(Clock::now() - started).count());
        const auto token = collector.run_command({"tokens", "create", "--tool", "demo-cli"});
        if (token.exit_code != 0) throw std::runtime_error("tokens create failed: " + token.err);
        TempDir work("tk-bench-dashboard-");
        ProcessOptions node;
        node.argv = {TK_NODE_BINARY, TK_SOURCE_DIR "/bench/dashboard/bench_dashboard.mjs"};
        node.env = hermetic_env(work.path());
        node.env["TK_URL"] = collector.base_url();
        node.env["TK_TOKEN"] = token.out.substr(0, token.out.size() - 1);
        node.env["TK_WORK"] = work.path().string();
        node.env["TK_RUNS"] = std::to_string(runs);
        node.env["TK_EVENTS"] =
            collector.query("SELECT count(*) FROM events WHERE id_time >= (now() AT TIME ZONE 'UTC')::date - 29");
        node.env["TK_DASHBOARD_DIR"] = TK_SOURCE_DIR "/collector/dashboard";
        const RunResult result = run(node, std::chrono::minutes(10));
        std::cout << result.out << result.err << std::flush;
        return result.exit_code == 0 ? 0 : 1;
    } catch (const std::exception& error) {
        std::cerr << "bench_dashboard: " << error.what() << "\n";
        return 1;
    }
}
