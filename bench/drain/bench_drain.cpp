// bench_drain: the end-to-end drain. N events are queued in a real tk-agent while its collector
// is down; the agent is stopped, the collector started, and the agent started again: the clock
// runs from the agent's start until its sent log accounts for all N events (each line is written
// after the collector's ack, which comes after PostgreSQL's commit, and after the events left the
// agent's queue). Then PostgreSQL is checked for exactly N rows.
// Next to it, in the same run and on the same cluster: bare PostgreSQL ingest of the same rows
// through libpq (COPY into a staging table + INSERT ... ON CONFLICT DO NOTHING), in batches of
// the forwarder's size over as many connections as the forwarder keeps batches in flight.
#include <libpq-fe.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <iostream>
#include <thread>

#include "agent_client.hpp"
#include "support/collector_fixture.hpp"
#include "tk/common/framing.hpp"
#include "tk/common/uuid.hpp"

namespace {

namespace v1 = telemetry_kit::v1;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kTool = "drain-bench";
constexpr const char* kAnonymousId = "6f1c0e2a9b7d4c3e8f5a1b2c3d4e5f60";  // bare rows: the agent's is also 32 hex

std::vector<v1::Event> make_events(std::size_t n) {
    std::vector<v1::Event> events(n);
    tk::UuidV7Generator ids;
    for (std::size_t i = 0; i < n; ++i) {
        auto& e = events[i];
        const auto id = ids.next();
        e.set_id(tk::to_bytes(id));
        e.set_tool(kTool);
        e.set_tool_version("2.4.1");
        e.set_kind(v1::EVENT_KIND_COMMAND);
        e.set_name(i % 3 ? "build" : "test");
        e.set_timestamp_unix_ms(static_cast<std::int64_t>(tk::uuid_v7_unix_ms(id)));
        (*e.mutable_attributes())["cache"].set_string_value("hit");
        (*e.mutable_attributes())["jobs"].set_int_value(8);
        (*e.mutable_attributes())["target"].set_string_value("x86_64-linux");
        e.set_success(true);
        e.set_duration_us(static_cast<std::int64_t>(1000 + i % 5000));
        e.set_exit_code(0);
    }
    return events;
}

/// One COPY text line per event, as the collector writes them.
std::string copy_rows(const std::vector<v1::Event>& events, std::size_t from, std::size_t to) {
    std::string rows;
    for (std::size_t i = from; i < to; ++i) {
        const auto& e = events[i];
        fmt::format_to(
            std::back_inserter(rows),
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{{\"cache\": \"hit\", \"jobs\": 8, \"target\": \"x86_64-linux\"}}"
            "\tt\t{}\t0\tf\n",
            tk::uuid_bytes_to_string(e.id()), e.timestamp_unix_ms(), e.tool(), e.tool_version(),
            static_cast<int>(e.kind()), e.name(), e.timestamp_unix_ms(), kAnonymousId, e.duration_us());
    }
    return rows;
}

void must(PGresult* result, PGconn* conn, const char* what) {
    const auto status = PQresultStatus(result);
    PQclear(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_COPY_IN) {
        throw std::runtime_error(fmt::format("{}: {}", what, PQerrorMessage(conn)));
    }
}

/// Bare PostgreSQL: `connections` threads share the batches round-robin; returns seconds.
double run_bare(const std::string& conninfo, const std::vector<v1::Event>& events, std::size_t batch,
                std::size_t connections) {
    std::vector<std::string> batches;
    for (std::size_t from = 0; from < events.size(); from += batch) {
        batches.push_back(copy_rows(events, from, std::min(events.size(), from + batch)));
    }
    std::vector<PGconn*> conns;
    for (std::size_t c = 0; c < connections; ++c) {
        PGconn* conn = PQconnectdb(conninfo.c_str());
        if (PQstatus(conn) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn));
        must(PQexec(conn,
                    "CREATE TEMP TABLE tk_staging (event_id uuid, id_ms bigint, tool text, tool_version text,"
                    " kind smallint, name text, occurred_ms bigint, anonymous_id text, attributes jsonb,"
                    " success boolean, duration_us bigint, exit_code integer, ci boolean) ON COMMIT DELETE ROWS"),
             conn, "staging");
        conns.push_back(conn);
    }
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            PGconn* conn = conns[c];
            for (std::size_t b = c; b < batches.size(); b += connections) {
                must(PQexec(conn, "BEGIN"), conn, "BEGIN");
                must(PQexec(conn, "COPY tk_staging FROM STDIN"), conn, "COPY");
                PQputCopyData(conn, batches[b].data(), static_cast<int>(batches[b].size()));
                PQputCopyEnd(conn, nullptr);
                must(PQgetResult(conn), conn, "COPY end");
                while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
                must(PQexec(conn,
                            "INSERT INTO events (event_id, id_time, tool, tool_version, kind, name, occurred_at,"
                            " received_at, anonymous_id, attributes, success, duration_us, exit_code, ci)"
                            " SELECT event_id, to_timestamp(id_ms / 1000.0), tool, tool_version, kind, name,"
                            " to_timestamp(occurred_ms / 1000.0), now(), anonymous_id, attributes, success,"
                            " duration_us, exit_code, ci FROM tk_staging ON CONFLICT DO NOTHING RETURNING event_id"),
                     conn, "INSERT");
                must(PQexec(conn, "COMMIT"), conn, "COMMIT");
            }
        });
    }
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (auto* conn : conns) PQfinish(conn);
    return seconds;
}

/// Events the sent log accounts for (accepted + duplicate).
std::size_t sent_log_total(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    std::size_t total = 0;
    auto field = [&](const char* name) -> std::size_t {
        const auto at = line.find(name);
        return at == std::string::npos ? 0 : std::stoul(line.substr(at + std::strlen(name)));
    };
    while (std::getline(in, line)) total += field(" accepted=") + field(" duplicate=");
    return total;
}

/// CPU seconds (user + system) a process has used so far.
double cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto paren = text.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream fields(text.substr(paren + 2));  // after "pid (comm) "
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "bench_drain: queued events from a real tk-agent through tk-collector into PostgreSQL, "
        "vs bare PostgreSQL COPY + INSERT ... ON CONFLICT of the same rows"};
    std::size_t n = 100'000;
    std::size_t batch = 500;
    std::size_t in_flight = 4;
    int runs = 3;
    app.add_option("--events", n, "events to queue and drain per run")->capture_default_str();
    app.add_option("--batch", batch, "events per batch (forwarder and bare)")->capture_default_str();
    app.add_option("--connections", in_flight,
                   "database connections of the collector and of bare PostgreSQL (the forwarder keeps its "
                   "default max_in_flight = 4 batches in flight)")
        ->capture_default_str();
    app.add_option("--runs", runs, "runs of each; the median is reported")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        tk::test::CollectorFixture collector({"--db-connections", std::to_string(in_flight), "--log-level", "info"});
        const std::string key = collector.create_key(kTool);
        collector.query("CREATE DATABASE bare");
        {
            tk::test::ProcessOptions migrate;
            migrate.argv = {tk::test::binary("tk-collector").string(), "migrate",     "--database-url",
                            collector.postgres().url("bare"),          "--log-level", "warn"};
            if (tk::test::run(migrate).exit_code != 0) throw std::runtime_error("tk-collector migrate failed");
            collector.postgres().query(
                "CREATE TABLE events_bare PARTITION OF events FOR VALUES FROM "
                "(now() - interval '40 days') TO (now() + interval '40 days')",
                "bare");
        }
        const std::string agent_config = fmt::format(
            "[queue]\nmax_events = {}\nmax_bytes = {}\n"
            "[forwarder]\nmax_batch_events = {}\ncoalesce_ms = 10\ninitial_backoff_ms = 60000\n",
            n * 2, std::size_t{1} << 30, batch);

        std::vector<double> drain_rates, bare_rates;
        for (int run = 1; run <= runs; ++run) {
            const auto events = make_events(n);

            // Bare PostgreSQL, the same rows.
            collector.postgres().query("TRUNCATE events", "bare");
            const double bare_s = run_bare(collector.postgres().conninfo("bare"), events, batch, in_flight);
            bare_rates.push_back(static_cast<double>(n) / bare_s);

            // Queue N in the agent while the collector is down.
            collector.stop();
            collector.query("TRUNCATE events");
            tk::test::RunningAgent agent(agent_config);
            {
                tk::test::AgentClient client(agent.socket());
                auto tool = tk::test::tool_identity(kTool);
                tool.set_version("2.4.1");
                tool.set_endpoint(collector.base_url());
                tool.set_ingest_key(key);
                if (!client.hello(tool)) throw std::runtime_error("hello failed");
                std::string frames;
                v1::ClientFrame frame;
                for (std::size_t i = 0; i < n; ++i) {
                    *frame.mutable_event() = events[i];
                    tk::framing::append_message(frames, frame);
                    if (frames.size() > (256u << 10) || i + 1 == n) {
                        if (!client.send_raw(frames)) throw std::runtime_error("the agent closed the connection");
                        frames.clear();
                    }
                }
                const auto ack = client.flush(60s);
                if (!ack || ack->accepted() != n) throw std::runtime_error("the agent did not accept every event");
            }
            agent.stop();

            // Drain.
            collector.start();
            const auto sent_log = agent.home() / "sent.log";
            std::filesystem::remove(sent_log);
            const auto start = Clock::now();
            agent.start();
            const pid_t agent_pid = agent.process().pid();
            const pid_t collector_pid = collector.process()->pid();
            const double collector_cpu_before = cpu_seconds(collector_pid);
            fmt::print(stderr, "draining: agent pid {}, collector pid {}, agent CPU at start {:.2f} s\n", agent_pid,
                       collector_pid, cpu_seconds(agent_pid));
            while (sent_log_total(sent_log) < n) {
                if (Clock::now() - start > 120s) throw std::runtime_error("the drain did not finish in 120 s");
                std::this_thread::sleep_for(2ms);
            }
            const double drain_s = std::chrono::duration<double>(Clock::now() - start).count();
            const double agent_cpu = cpu_seconds(agent_pid);
            const double collector_cpu = cpu_seconds(collector_pid) - collector_cpu_before;
            drain_rates.push_back(static_cast<double>(n) / drain_s);

            const std::string rows = collector.query("SELECT count(*) || ' ' || count(DISTINCT event_id) FROM events");
            const auto status = agent.status();
            if (rows != fmt::format("{} {}", n, n) || status.queue_events() != 0) {
                throw std::runtime_error(fmt::format("after the drain: PostgreSQL rows/distinct = {}, agent queue = {}",
                                                     rows, status.queue_events()));
            }
            fmt::print(
                "run {}: drain {} events in {:.3f} s = {:.0f} events/s (CPU s: agent {:.2f}, collector {:.2f}); "
                "bare PostgreSQL {:.3f} s = {:.0f} events/s; ratio {:.0f}%\n",
                run, n, drain_s, n / drain_s, agent_cpu, collector_cpu, bare_s, n / bare_s, 100.0 * bare_s / drain_s);
        }
        const double drain = median(drain_rates), bare = median(bare_rates);
        fmt::print(
            "\nend-to-end drain (agent -> collector -> PostgreSQL), {} events, batches of {}, 4 in flight, "
            "collector with {} database connections:\n"
            "  median {:.0f} events/s\n"
            "bare PostgreSQL (COPY + INSERT ON CONFLICT, batches of {}, {} connections), same rows, same cluster:\n"
            "  median {:.0f} events/s\n"
            "ratio: {:.0f}% of bare PostgreSQL (target >= 100,000 events/s and >= 50%)\n",
            n, batch, in_flight, drain, batch, in_flight, bare, 100.0 * drain / bare);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "bench_drain: " << e.what() << "\n";
        return 1;
    }
}
