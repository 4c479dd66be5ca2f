// Collector-only ingest: a load generator posts 500-event protobuf batches over many keep-alive
// connections to a real tk-collector over a throwaway PostgreSQL, for a few connection counts
// (to show where it saturates). Next to it, in the same run: bare PostgreSQL ingest of the same
// rows through libpq (COPY into a staging table + INSERT ... ON CONFLICT DO NOTHING), with as
// many connections as the collector has. Prints events/s, batch latency p50/p99, collector RSS.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <iostream>
#include <sstream>
#include <unistd.h>
#include <thread>

#include "support/postgres.hpp"
#include "support/process.hpp"
#include "telemetry_kit/v1/collector.pb.h"
#include "tk/collector/ingest.hpp"
#include "tk/common/uuid.hpp"

namespace {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using tk::test::PostgresCluster;

constexpr const char* kTool = "bench-cli";
constexpr const char* kInstall = "6f1c0e2a9b7d4c3e8f5a1b2c3d4e5f60";  // replaced per batch (install_id)

/// Where `needle` occurs in `text`.
std::vector<std::size_t> offsets_of(const std::string& text, const std::string& needle) {
    std::vector<std::size_t> offsets;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) {
        offsets.push_back(at);
    }
    return offsets;
}

/// One of 10,000 installs, as 32 hex digits: each batch is one install's events, as an agent
/// sends them, so the rollups see many installs (and a popular tool's few hot hourly rows).
void patch_install(std::string& text, const std::vector<std::size_t>& offsets, std::uint64_t install) {
    const std::string id = fmt::format("{:032x}", install % 10'000);
    for (const std::size_t at : offsets)
        std::copy(id.begin(), id.end(), text.begin() + static_cast<std::ptrdiff_t>(at));
}

/// A realistic batch: one install's events, a few attributes each.
telemetry_kit::v1::Batch make_batch(int events) {
    telemetry_kit::v1::Batch batch;
    const auto now_ms = static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7()));
    for (int i = 0; i < events; ++i) {
        auto* event = batch.add_events();
        event->set_id(tk::to_bytes(tk::uuid_v7()));
        event->set_tool(kTool);
        event->set_tool_version("2.4.1");
        event->set_kind(telemetry_kit::v1::EVENT_KIND_COMMAND);
        event->set_name(i % 3 ? "build" : "test");
        event->set_timestamp_unix_ms(now_ms);
        event->set_anonymous_id(kInstall);
        event->set_success(true);
        event->set_duration_us(1000 + i);
        event->set_exit_code(0);
        (*event->mutable_attributes())["cache"].set_string_value("hit");
        (*event->mutable_attributes())["jobs"].set_int_value(8);
        (*event->mutable_attributes())["target"].set_string_value("x86_64-linux");
        event->set_os("linux");  // the platform facts the agent stamps, as in the bare rows
        event->set_os_version("debian 12");
        event->set_arch("x86_64");
        event->set_agent_version("0.1.0");
    }
    return batch;
}

/// Offsets of each event's 16 id bytes in a serialised Batch (field 1 of each event is written
/// first), so a sender can give every batch fresh ids without re-serialising.
std::vector<std::size_t> id_offsets(const std::string& wire) {
    std::vector<std::size_t> offsets;
    std::size_t at = 0;
    while (at < wire.size()) {
        if (wire[at] != 0x0a) throw std::runtime_error("unexpected batch encoding");
        ++at;
        std::size_t length = 0;
        int shift = 0;
        while (static_cast<unsigned char>(wire[at]) & 0x80) {
            length |= std::size_t(wire[at++] & 0x7f) << shift;
            shift += 7;
        }
        length |= std::size_t(static_cast<unsigned char>(wire[at++])) << shift;
        if (wire[at] != 0x0a || wire[at + 1] != 0x10) throw std::runtime_error("event does not start with its id");
        offsets.push_back(at + 2);
        at += length;
    }
    return offsets;
}

struct Stats {
    double seconds = 0;
    std::uint64_t events = 0;
    std::vector<double> latencies_ms;
    std::uint64_t errors = 0;
    double events_per_second() const { return seconds > 0 ? events / seconds : 0; }
    double percentile(double p) {
        if (latencies_ms.empty()) return 0;
        std::sort(latencies_ms.begin(), latencies_ms.end());
        return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<std::size_t>(p * latencies_ms.size()))];
    }
};

/// `connections` threads, each with a keep-alive connection, posting for `duration`.
Stats run_load(unsigned short port, const std::string& key, const std::string& wire, int events_per_batch,
               int connections, std::chrono::milliseconds duration) {
    const auto offsets = id_offsets(wire);
    const auto install_offsets = offsets_of(wire, kInstall);
    std::vector<Stats> per_thread(connections);
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    const auto end = start + duration;
    for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            Stats& stats = per_thread[c];
            boost::asio::io_context ioc;
            boost::beast::tcp_stream stream(ioc);
            stream.connect({boost::asio::ip::make_address("127.0.0.1"), port});
            boost::beast::flat_buffer buffer;
            tk::UuidV7Generator ids;
            std::mt19937_64 installs(static_cast<std::uint64_t>(c) + 1);
            http::request<http::string_body> request{http::verb::post, "/v1/batches", 11};
            request.set(http::field::host, "127.0.0.1");
            request.set(http::field::authorization, "Bearer " + key);
            request.set(http::field::content_type, "application/x-protobuf");
            request.body() = wire;
            request.prepare_payload();
            while (Clock::now() < end) {
                for (const std::size_t offset : offsets) {
                    const auto id = ids.next();
                    std::copy(id.begin(), id.end(), request.body().begin() + static_cast<std::ptrdiff_t>(offset));
                }
                patch_install(request.body(), install_offsets, installs());
                const auto sent = Clock::now();
                http::write(stream, request);
                http::response<http::string_body> response;
                http::read(stream, buffer, response);
                stats.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
                if (response.result_int() == 200) {
                    stats.events += static_cast<std::uint64_t>(events_per_batch);
                } else {
                    ++stats.errors;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    Stats total;
    total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& stats : per_thread) {
        total.events += stats.events;
        total.errors += stats.errors;
        total.latencies_ms.insert(total.latencies_ms.end(), stats.latencies_ms.begin(), stats.latencies_ms.end());
    }
    return total;
}

void must(PGresult* result, PGconn* conn, const char* what) {
    const auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_COPY_IN) {
        const std::string message = PQerrorMessage(conn);
        PQclear(result);
        throw std::runtime_error(fmt::format("{}: {}", what, message));
    }
    PQclear(result);
}

/// COPY text rows for `events` events, as the collector writes them; the ids (first 36
/// characters of each line) are patched per batch.
std::string copy_rows(int events, std::vector<std::size_t>& line_starts) {
    std::string rows;
    const auto now_ms = static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7()));
    for (int i = 0; i < events; ++i) {
        line_starts.push_back(rows.size());
        fmt::format_to(std::back_inserter(rows),
                       "{}\t{}\t{}\t2.4.1\t1\t{}\t{}\t{}\t"
                       "{{\"cache\":\"hit\",\"jobs\":8,\"target\":\"x86_64-linux\"}}\tt\t{}\t0\tf\t"
                       "linux\tdebian 12\tx86_64\t0.1.0\t0\t1\n",  // ... manifest_version, sample_rate (007)
                       tk::to_string(tk::uuid_v7()), now_ms, kTool, i % 3 ? "build" : "test", now_ms, kInstall,
                       1000 + i);
    }
    return rows;
}

// What ingest did before rollups (migration 004), unchanged: the insert alone. This is the
// "pre-rollup bare insert" the rollups' cost is held against (issue 18: >= 80% of it).
constexpr const char* kInsertOnly =
    "INSERT INTO events (event_id, id_time, tool, tool_version, kind, name, occurred_at, received_at,"
    " anonymous_id, attributes, success, duration_us, exit_code, ci, os, os_version, arch, agent_version)"
    " SELECT event_id, to_timestamp(id_ms / 1000.0), tool, tool_version, kind, name,"
    " to_timestamp(occurred_ms / 1000.0), now(), anonymous_id, attributes, success, duration_us,"
    " exit_code, ci, os, os_version, arch, agent_version FROM tk_staging ON CONFLICT DO NOTHING RETURNING event_id";

/// The rollup statement's parameters for one batch of the bare rows (the same events as
/// make_batch()), with the offsets of the install id in them, patched per batch like the rows.
struct RollupTemplate {
    std::vector<std::string> params;
    std::vector<std::vector<std::size_t>> install_offsets;
};

RollupTemplate rollup_template(int events_per_batch) {
    const auto batch = make_batch(events_per_batch);
    std::vector<const telemetry_kit::v1::Event*> events;
    for (const auto& event : batch.events()) events.push_back(&event);
    RollupTemplate made;
    made.params = tk::collector::detail::rollup_params(kTool, tk::collector::detail::rollup_delta(events));
    for (const auto& param : made.params) made.install_offsets.push_back(offsets_of(param, kInstall));
    return made;
}

/// Bare PostgreSQL: `connections` threads doing what the collector does per batch (`move` is the
/// statement from the staging table into `events`; with `rollups`, then kApplyRollups as the
/// collector does), nothing else.
Stats run_bare(const std::string& conninfo, int events_per_batch, int connections, std::chrono::milliseconds duration,
               const char* move, bool rollups) {
    std::vector<std::size_t> line_starts;
    const std::string template_rows = copy_rows(events_per_batch, line_starts);
    const auto install_offsets = offsets_of(template_rows, kInstall);
    const RollupTemplate rollup = rollup_template(events_per_batch);
    std::vector<Stats> per_thread(connections);
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    const auto end = start + duration;
    for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            Stats& stats = per_thread[c];
            PGconn* conn = PQconnectdb(conninfo.c_str());
            if (PQstatus(conn) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn));
            must(PQexec(conn, tk::collector::detail::kCreateStaging), conn, "staging");
            std::string rows = template_rows;
            auto params = rollup.params;
            std::vector<const char*> values(params.size());
            tk::UuidV7Generator ids;
            std::mt19937_64 installs(static_cast<std::uint64_t>(c) + 1001);
            while (Clock::now() < end) {
                for (const std::size_t at : line_starts) {
                    const std::string id = tk::to_string(ids.next());
                    std::copy(id.begin(), id.end(), rows.begin() + static_cast<std::ptrdiff_t>(at));
                }
                const std::uint64_t install = installs();
                patch_install(rows, install_offsets, install);
                for (std::size_t i = 0; i < params.size(); ++i) {
                    patch_install(params[i], rollup.install_offsets[i], install);
                    values[i] = params[i].c_str();
                }
                const auto started = Clock::now();
                must(PQexec(conn, "BEGIN"), conn, "BEGIN");
                must(PQexec(conn, tk::collector::detail::kCopyStaging), conn, "COPY");
                PQputCopyData(conn, rows.data(), static_cast<int>(rows.size()));
                PQputCopyEnd(conn, nullptr);
                must(PQgetResult(conn), conn, "COPY end");
                while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
                must(PQexec(conn, move), conn, "INSERT");
                if (rollups) {
                    must(PQexecParams(conn, tk::collector::detail::kApplyRollups, static_cast<int>(values.size()),
                                      nullptr, values.data(), nullptr, nullptr, 0),
                         conn, "rollups");
                }
                must(PQexec(conn, "COMMIT"), conn, "COMMIT");
                stats.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
                stats.events += static_cast<std::uint64_t>(events_per_batch);
            }
            PQfinish(conn);
        });
    }
    for (auto& thread : threads) thread.join();
    Stats total;
    total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto& stats : per_thread) {
        total.events += stats.events;
        total.latencies_ms.insert(total.latencies_ms.end(), stats.latencies_ms.begin(), stats.latencies_ms.end());
    }
    return total;
}

/// CPU seconds (user + system) a process has used so far.
double cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// A /proc/PID/status field in KiB (VmRSS, VmHWM).
long proc_kib(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

/// Runs `binary ARGS...` (a tk-collector command) and returns its stdout; throws if it fails.
std::string run_cli(const std::string& binary, const std::vector<std::string>& args) {
    tk::test::ProcessOptions options;
    options.argv = {binary};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    const auto result = tk::test::run(options);
    if (result.exit_code != 0) throw std::runtime_error(binary + " failed: " + result.err);
    return result.out;
}

/// A new ingest key for kTool in the database at `url`, made by `binary`.
std::string create_key(const std::string& binary, const std::string& url) {
    std::string key =
        run_cli(binary, {"keys", "create", "--tool", kTool, "--database-url", url, "--log-level", "warn"});
    key.erase(key.find_last_not_of('\n') + 1);
    return key;
}

/// `binary serve` on 127.0.0.1:`port` against `url`, rate limits off, its log in `log`.
tk::test::ProcessOptions serve_options(const std::string& binary, unsigned short port, const std::string& url,
                                       unsigned db_connections, unsigned io_threads, std::filesystem::path log) {
    tk::test::ProcessOptions serve;
    serve.argv = {binary,
                  "serve",
                  "--listen",
                  fmt::format("127.0.0.1:{}", port),
                  "--database-url",
                  url,
                  "--rate-limit",
                  "0",
                  "--db-connections",
                  std::to_string(db_connections),
                  "--threads",
                  std::to_string(io_threads),
                  "--log-level",
                  "warn"};
    serve.stderr_file = std::move(log);
    return serve;
}

/// The same HTTP load against another collector binary (e.g. the last commit before the rollups,
/// 2ea8ed4: the "today's ingest rate"), on its own database of the same cluster, which
/// its own migrations make. Returns its best events/s over the connection counts.
double run_baseline(PostgresCluster& postgres, const std::string& binary, const tk::test::TempDir& dir,
                    const std::vector<int>& connection_counts, std::chrono::milliseconds duration, int events_per_batch,
                    unsigned db_connections, unsigned io_threads) {
    postgres.query("CREATE DATABASE baseline");
    const std::string url = postgres.url("baseline");
    run_cli(binary, {"migrate", "--database-url", url, "--log-level", "warn"});
    const std::string key = create_key(binary, url);
    const unsigned short port = tk::test::free_tcp_port();
    tk::test::ChildProcess collector(
        serve_options(binary, port, url, db_connections, io_threads, dir / "baseline.log"));
    if (!tk::test::wait_for_tcp_port(port)) throw std::runtime_error("baseline collector did not start");
    const std::string wire = make_batch(events_per_batch).SerializeAsString();
    double best = 0;
    for (const int connections : connection_counts) {
        Stats stats = run_load(port, key, wire, events_per_batch, connections, duration);
        fmt::print("baseline {:>3} connections: {:.0f} events/s, p50 {:.1f} ms, p99 {:.1f} ms{}\n", connections,
                   stats.events_per_second(), stats.percentile(0.5), stats.percentile(0.99),
                   stats.errors ? fmt::format("  ({} failed batches)", stats.errors) : "");
        best = std::max(best, stats.events_per_second());
    }
    collector.stop();
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_collector: tk-collector ingest vs bare PostgreSQL COPY + INSERT ... ON CONFLICT"};
    int events_per_batch = 500;
    std::vector<int> connection_counts = {4, 16, 64};
    int seconds = 5;
    unsigned db_connections = 4;
    unsigned io_threads = 0;
    app.add_option("--events", events_per_batch, "events per batch")->capture_default_str();
    app.add_option("--connections", connection_counts,
                   "load-generator connection counts to try, in order (e.g. 4,16,64)")
        ->delimiter(',')
        ->capture_default_str();
    app.add_option("--seconds", seconds, "seconds per measurement")->capture_default_str();
    app.add_option("--db-connections", db_connections, "collector database connections (bare PostgreSQL uses as many)")
        ->capture_default_str();
    app.add_option("--threads", io_threads, "collector I/O threads (0: one per CPU)")->capture_default_str();
    std::string baseline_binary;
    app.add_option("--baseline-collector", baseline_binary,
                   "also drive this collector binary (an earlier commit's, e.g. the last before the rollups) with "
                   "the same load, on its own database, and print the collector with rollups as a share of it");
    CLI11_PARSE(app, argc, argv);
    const std::chrono::milliseconds duration{seconds * 1000};

    try {
        PostgresCluster postgres;
        postgres.query("CREATE DATABASE bare");
        const std::string collector_binary = TK_COLLECTOR_BINARY;
        tk::test::TempDir dir("tk-bench-collector-");
        run_cli(collector_binary, {"migrate", "--database-url", postgres.url("bare"), "--log-level", "warn"});
        postgres.query(
            "CREATE TABLE events_bare PARTITION OF events FOR VALUES FROM (now() - interval '40 days')"
            " TO (now() + interval '40 days')",
            "bare");
        const std::string key = create_key(collector_binary, postgres.url());

        // (b) Bare PostgreSQL, the physical limit of this design on this machine: the insert as it
        // was before rollups, the collector's insert alone (its cheaper timestamps), and the
        // collector's statements with the rollups.
        const int bare_connections = static_cast<int>(db_connections);
        Stats bare =
            run_bare(postgres.conninfo("bare"), events_per_batch, bare_connections, duration, kInsertOnly, false);
        Stats bare_insert = run_bare(postgres.conninfo("bare"), events_per_batch, bare_connections, duration,
                                     tk::collector::detail::kInsertStaging, false);
        Stats bare_rollups = run_bare(postgres.conninfo("bare"), events_per_batch, bare_connections, duration,
                                      tk::collector::detail::kInsertStaging, true);

        // (a) The collector.
        const unsigned short port = tk::test::free_tcp_port();
        tk::test::ChildProcess collector(
            serve_options(collector_binary, port, postgres.url(), db_connections, io_threads, dir / "collector.log"));
        if (!tk::test::wait_for_tcp_port(port)) throw std::runtime_error("collector did not start");

        const std::string wire = make_batch(events_per_batch).SerializeAsString();
        fmt::print("collector ingest, {}-event protobuf batches ({} bytes), {} s per step, {} database connections\n",
                   events_per_batch, wire.size(), seconds, db_connections);
        fmt::print("{:>12} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8}\n", "connections", "events/s", "p50 ms", "p99 ms",
                   "RSS MiB", "collector CPU", "vs bare");
        double best = 0;
        double best_p99 = 0;
        for (const int connections : connection_counts) {
            const double cpu_before = cpu_seconds(collector.pid());
            Stats stats = run_load(port, key, wire, events_per_batch, connections, duration);
            const double cpu_share = (cpu_seconds(collector.pid()) - cpu_before) / stats.seconds;
            const double rss = proc_kib(collector.pid(), "VmRSS") / 1024.0;
            fmt::print("{:>12} {:>12.0f} {:>10.1f} {:>10.1f} {:>10.1f} {:>11.0f}% {:>7.0f}%{}\n", connections,
                       stats.events_per_second(), stats.percentile(0.5), stats.percentile(0.99), rss, 100.0 * cpu_share,
                       100.0 * stats.events_per_second() / bare.events_per_second(),
                       stats.errors ? fmt::format("  ({} failed batches)", stats.errors) : "");
            if (stats.events_per_second() > best) {
                best = stats.events_per_second();
                best_p99 = stats.percentile(0.99);
            }
        }
        const double peak_rss = proc_kib(collector.pid(), "VmHWM") / 1024.0;
        const std::string stored = postgres.query("SELECT count(*) FROM events");
        fmt::print(
            "pre-rollup bare insert (COPY + INSERT ON CONFLICT as before the rollups, {} connections): "
            "{:.0f} events/s, p50 {:.1f} ms, p99 {:.1f} ms per batch\n",
            db_connections, bare.events_per_second(), bare.percentile(0.5), bare.percentile(0.99));
        fmt::print("bare insert, the collector's statement without rollups: {:.0f} events/s = {:.0f}% of pre-rollup\n",
                   bare_insert.events_per_second(), 100.0 * bare_insert.events_per_second() / bare.events_per_second());
        fmt::print(
            "bare insert + rollups (the collector's statements): {:.0f} events/s = {:.0f}% of pre-rollup, "
            "p50 {:.1f} ms, p99 {:.1f} ms per batch\n",
            bare_rollups.events_per_second(), 100.0 * bare_rollups.events_per_second() / bare.events_per_second(),
            bare_rollups.percentile(0.5), bare_rollups.percentile(0.99));
        fmt::print(
            "collector with rollups (best): {:.0f} events/s = {:.0f}% of pre-rollup bare insert (target >= 80%), "
            "{:.0f}% of bare insert + rollups; p99 {:.1f} ms; peak RSS {:.1f} MiB; {} rows stored\n",
            best, 100.0 * best / bare.events_per_second(), 100.0 * best / bare_rollups.events_per_second(), best_p99,
            peak_rss, stored);
        collector.stop();
        if (!baseline_binary.empty()) {
            const double baseline = run_baseline(postgres, baseline_binary, dir, connection_counts, duration,
                                                 events_per_batch, db_connections, io_threads);
            fmt::print(
                "baseline collector ({}): best {:.0f} events/s = {:.0f}% of pre-rollup bare insert; the collector "
                "with rollups = {:.0f}% of it (target >= 80%)\n",
                baseline_binary, baseline, 100.0 * baseline / bare.events_per_second(), 100.0 * best / baseline);
        }
    } catch (const std::exception& error) {
        std::cerr << "bench_collector: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
