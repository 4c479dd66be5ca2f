// Per-tool retention while ingesting (issue 14): does ingest keep its rate while a tool's expired
// events are deleted? In one run over a throwaway PostgreSQL:
//   1. ingest alone: `--writers` threads storing 500-event batches of a live tool through the
//      collector's own store_batch() (the quota-counting insert and rollups included);
//   2. the same while expire_tool_events() deletes a tool's expired rows in batches of 5,000
//      (the collector's choice: short transactions walking the primary key);
//   3. the same while one plain DELETE statement removes another tool's expired rows at once (the
//      physical limit of a delete, and what one long statement does to ingest).
// Prints events/s for each, the ratios to (1), and each delete's rows/s.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "support/postgres.hpp"
#include "telemetry_kit/v1/collector.pb.h"
#include "tk/collector/database.hpp"
#include "tk/collector/ingest.hpp"
#include "tk/collector/migrations.hpp"
#include "tk/collector/tenants.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/uuid.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace tk::collector;
constexpr std::int64_t kDayMs = 86'400'000;

ConnectionSettings unbounded() {
    ConnectionSettings settings;
    settings.statement_timeout_ms = 0;
    settings.lock_timeout_ms = 0;
    return settings;
}

telemetry_kit::v1::Batch live_batch(int events, int install) {
    telemetry_kit::v1::Batch batch;
    const auto now_ms = tk::wall_clock_ms();
    for (int i = 0; i < events; ++i) {
        auto* event = batch.add_events();
        event->set_id(tk::to_bytes(tk::uuid_v7()));
        event->set_tool("live");
        event->set_tool_version("2.4.1");
        event->set_kind(telemetry_kit::v1::EVENT_KIND_COMMAND);
        event->set_name(i % 3 ? "build" : "test");
        event->set_timestamp_unix_ms(now_ms);
        event->set_anonymous_id(fmt::format("{:032x}", install));
        event->set_success(true);
        event->set_duration_us(1000 + i);
        (*event->mutable_attributes())["cache"].set_string_value("hit");
        event->set_os("linux");
        event->set_arch("x86_64");
    }
    return batch;
}

/// `rows` events of `tool` spread over 40-70 days ago, straight into `events` (the loader, not
/// the thing measured). Ids are UUIDv7-shaped: 12 hex digits of time, then random.
void load_old(Connection& conn, PartitionCache& partitions, const std::string& tool, int rows) {
    const std::int64_t now = tk::wall_clock_ms();
    partitions.ensure(conn, {now - 70 * kDayMs, now - 55 * kDayMs, now - 40 * kDayMs}, 400);
    conn.exec(fmt::format(
        "INSERT INTO events (event_id, id_time, tool, tool_version, kind, name, occurred_at, received_at, anonymous_id,"
        " attributes, ci, os, os_version, arch, agent_version)"
        " SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(g::text), 1, 19))::uuid, to_timestamp(ms / 1000.0),"
        " '{}', '1.0', 1, 'build', to_timestamp(ms / 1000.0), now(), md5((g % 5000)::text), '{{}}', false, 'linux',"
        " '', 'x86_64', '0.1.0'"
        " FROM (SELECT g, {}::bigint - (40::bigint * {} + (g::bigint * 30 * {}) / {}) AS ms FROM generate_series(1, "
        "{}) g) s",
        tool, now, kDayMs, kDayMs, rows, rows));
    conn.exec("ANALYZE events");
}

struct Phase {
    double events_per_second = 0;
    double delete_seconds = 0;
    long long deleted = 0;
};

/// Writers store batches for `seconds` while `background` (if any) runs once on its own connection.
Phase ingest(const std::string& url, PartitionCache& partitions, int writers, double seconds,
             std::function<long long(Connection&)> background) {
    std::atomic<bool> stop{false};
    std::atomic<long long> stored{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            Connection conn(url, unbounded());
            int install = w * 100000;
            while (!stop) {
                const auto outcome =
                    store_batch(conn, partitions, live_batch(500, ++install % 5000), "live", FieldLimits{}, 400);
                stored += outcome.ack.accepted_size();
            }
        });
    }
    Phase phase;
    std::thread deleter;
    if (background) {
        deleter = std::thread([&] {
            Connection conn(url, unbounded());
            const auto started = Clock::now();
            phase.deleted = background(conn);
            phase.delete_seconds = std::chrono::duration<double>(Clock::now() - started).count();
        });
    }
    const auto started = Clock::now();
    const long long before = stored;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measuring window itself
    phase.events_per_second =
        static_cast<double>(stored - before) / std::chrono::duration<double>(Clock::now() - started).count();
    stop = true;
    for (auto& t : threads) t.join();
    if (deleter.joinable()) deleter.join();
    return phase;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_retention: ingest's rate while per-tool retention deletes expired events"};
    int old_rows = 1'000'000;
    int writers = 2;
    double seconds = 10;
    app.add_option("--old-rows", old_rows, "expired rows of each deleting tool")->capture_default_str();
    app.add_option("--writers", writers, "ingest connections")->capture_default_str();
    app.add_option("--seconds", seconds, "length of each ingest window")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    tk::test::PostgresCluster postgres;
    const std::string url = postgres.url();
    Connection admin(url, unbounded());
    apply_migrations(admin);
    PartitionCache partitions;
    fmt::print("loading {} expired rows for each of two tools...\n", old_rows);
    load_old(admin, partitions, "batched", old_rows);
    load_old(admin, partitions, "bare", old_rows);
    // Warm up: partitions for now, the staging tables, the caches.
    (void)ingest(url, partitions, writers, 2, nullptr);

    const std::int64_t cutoff = tk::wall_clock_ms() - 30 * kDayMs;
    const Phase alone = ingest(url, partitions, writers, seconds, nullptr);
    const Phase batched = ingest(url, partitions, writers, seconds,
                                 [&](Connection& conn) { return expire_tool_events(conn, "batched", cutoff, 5000); });
    const Phase bare = ingest(url, partitions, writers, seconds, [&](Connection& conn) {
        return conn
            .exec("DELETE FROM events WHERE tool = 'bare' AND id_time < to_timestamp($1::bigint / 1000.0)",
                  {std::to_string(cutoff)})
            .affected();
    });

    fmt::print("ingest alone ({} writers, 500-event batches): {:.0f} events/s\n", writers, alone.events_per_second);
    fmt::print(
        "ingest while batched deletes run:        {:.0f} events/s = {:.0f}% of alone; deleted {} rows in {:.1f} s "
        "({:.0f} rows/s)\n",
        batched.events_per_second, 100 * batched.events_per_second / alone.events_per_second, batched.deleted,
        batched.delete_seconds, batched.deleted / batched.delete_seconds);
    fmt::print(
        "ingest while one bare DELETE runs:       {:.0f} events/s = {:.0f}% of alone; deleted {} rows in {:.1f} s "
        "({:.0f} rows/s, the delete's physical limit)\n",
        bare.events_per_second, 100 * bare.events_per_second / alone.events_per_second, bare.deleted,
        bare.delete_seconds, bare.deleted / bare.delete_seconds);
    fmt::print("batched deletes ran at {:.0f}% of the bare DELETE's rate\n",
               100 * (batched.deleted / batched.delete_seconds) / (bare.deleted / bare.delete_seconds));
    return 0;
}
