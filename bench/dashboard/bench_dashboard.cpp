// The dashboard's speed over a data set of any size (issue 11: every panel rendered <= 1 s after
// navigation). Either a throwaway PostgreSQL and tk-collector with --events events of the browser
// test's plausible tool sent through the real ingest path, or (--reuse DIR) an existing cluster
// such as bench_query's 10-million-event data set, served by the real collector. Then
// bench_dashboard.mjs loads the page in headless Chromium and prints, per panel and as medians of
// reloads, when it was drawn next to its API requests made without a browser, in the same run.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <iostream>

#include "browser/dashboard_events.hpp"
#include "support/collector_fixture.hpp"
#include "support/postgres.hpp"

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

/// What the browser half needs: where the collector is, a read token and the tool.
struct Served {
    std::string url;
    std::string token;
    std::string tool;
};

/// Runs bench_dashboard.mjs against `served`; returns its exit code.
int browse(const Served& served, int runs) {
    TempDir work("tk-bench-dashboard-");
    ProcessOptions node;
    node.argv = {TK_NODE_BINARY, TK_SOURCE_DIR "/bench/dashboard/bench_dashboard.mjs"};
    node.env = hermetic_env(work.path());
    node.env["TK_URL"] = served.url;
    node.env["TK_TOKEN"] = served.token;
    node.env["TK_TOOL"] = served.tool;
    node.env["TK_WORK"] = work.path().string();
    node.env["TK_RUNS"] = std::to_string(runs);
    node.env["TK_DASHBOARD_DIR"] = TK_SOURCE_DIR "/collector/dashboard";
    const RunResult result = run(node, std::chrono::minutes(30));
    std::cout << result.out << result.err << std::flush;
    return result.exit_code;
}

/// `tk-collector ARGS... --database-url URL`, its output without the last newline; throws on failure.
std::string collector_command(std::vector<std::string> args, const std::string& database_url) {
    ProcessOptions cli;
    cli.argv = {TK_COLLECTOR_BINARY};
    cli.argv.insert(cli.argv.end(), args.begin(), args.end());
    cli.argv.insert(cli.argv.end(), {"--database-url", database_url, "--log-level", "warn"});
    // Migrations on a 10M-event data set roll up what is stored: minutes, not the fixture's 30 s.
    const RunResult result = run(cli, std::chrono::minutes(60));
    if (result.exit_code != 0) throw std::runtime_error(fmt::format("tk-collector {} failed: {}", args[0], result.err));
    return result.out.substr(0, result.out.find_last_not_of('\n') + 1);
}

/// The cluster in `dir` (bench_query --reuse's, or a copy): migrated by `tk-collector migrate`
/// first (a newer binary's migrations run there, timed, not inside serve's start-up), then served.
int reuse(const std::string& dir, const std::string& tool, int runs) {
    PostgresCluster postgres{std::filesystem::path(dir)};
    const auto migrating = Clock::now();
    collector_command({"migrate"}, postgres.url());
    std::cout << fmt::format("{}: migrated in {:.1f} s; {} events of {}, {} in the last 30 days (UTC)\n", dir,
                             std::chrono::duration<double>(Clock::now() - migrating).count(),
                             postgres.query("SELECT count(*) FROM events"), tool,
                             postgres.query("SELECT count(*) FROM events WHERE id_time >= (now() AT TIME ZONE "
                                            "'UTC')::date - 29"));
    const std::string token =
        collector_command({"tokens", "create", "--tool", tool, "--name", "bench-dashboard"}, postgres.url());
    TempDir logs("tk-bench-dashboard-collector-");
    const unsigned short port = free_tcp_port();
    ProcessOptions serve;
    serve.argv = {TK_COLLECTOR_BINARY, "serve",        "--listen",         fmt::format("127.0.0.1:{}", port),
                  "--database-url",    postgres.url(), "--retention-days", "0",
                  "--log-level",       "warn"};
    serve.env = hermetic_env(logs.path());
    serve.stderr_file = logs / "collector.log";
    ChildProcess collector(serve);
    if (!wait_for_tcp_port(port, std::chrono::seconds(60)))
        throw std::runtime_error("the collector did not listen: " + read_file(logs / "collector.log"));
    const int code = browse({fmt::format("http://127.0.0.1:{}", port), token, tool}, runs);
    collector.stop(std::chrono::seconds(10));
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"The dashboard in headless Chromium over --events events (docs/benchmarks.md)"};
    int events = 200'000;
    int runs = 3;
    std::string reuse_dir;
    std::string tool;
    app.add_option("--events", events, "events to load (8 weeks, about half in the page's 30 days)")
        ->check(CLI::PositiveNumber);
    app.add_option("--reuse", reuse_dir,
                   "serve the PostgreSQL cluster in this directory (e.g. bench_query --reuse's) instead of loading "
                   "--events; it is migrated first and left in place");
    app.add_option("--tool", tool, "with --reuse, the tool shown (bench_query's: bench-cli)")->needs("--reuse");
    app.add_option("--runs", runs, "reloads measured (the median is printed)")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    ::signal(SIGPIPE, SIG_IGN);
    try {
        if (!reuse_dir.empty()) return reuse(reuse_dir, tool.empty() ? "bench-cli" : tool, runs) == 0 ? 0 : 1;
        tool = "demo-cli";  // the tool of dashboard_events()
        CollectorFixture collector;
        const auto started = Clock::now();
        load(collector, collector.create_key(tool), events);
        std::cout << fmt::format("loaded {} events through POST /v1/batches in {:.1f} s\n", events,
                                 std::chrono::duration<double>(Clock::now() - started).count());
        const auto token = collector.run_command({"tokens", "create", "--tool", tool});
        if (token.exit_code != 0) throw std::runtime_error("tokens create failed: " + token.err);
        std::cout << fmt::format(
            "{} events in the last 30 days (UTC)\n",
            collector.query("SELECT count(*) FROM events WHERE id_time >= (now() AT TIME ZONE 'UTC')::date - 29"));
        return browse({collector.base_url(), token.out.substr(0, token.out.size() - 1), tool}, runs) == 0 ? 0 : 1;
    } catch (const std::exception& error) {
        std::cerr << "bench_dashboard: " << error.what() << "\n";
        return 1;
    }
}
