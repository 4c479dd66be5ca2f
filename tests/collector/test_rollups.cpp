// The rollups (migrations 004, 005, 008 and 009) at the real tk-collector over a real PostgreSQL: for random events,
// resent batches, two senders at once and erasures, every rollup row equals what the same
// aggregation over the raw events gives — counted once per event actually stored.
#include <catch2/catch.hpp>

#include <thread>

#include "batch_helpers.hpp"
#include "random_events.hpp"
#include "support/collector_fixture.hpp"
#include "tk/collector/database.hpp"
#include "tk/collector/shard_folding.hpp"

using namespace tk::test;

namespace {

// Rows in one query's answer and not in the other's, both ways: 0 when they are equal.
std::string difference(const CollectorFixture& collector, const std::string& a, const std::string& b) {
    return collector.query("SELECT count(*) FROM ((" + a + " EXCEPT ALL " + b + ") UNION ALL (" + b + " EXCEPT ALL " +
                           a + ")) AS d");
}

// A rollup row's count is the sum over its shards; groups that sum to 0 were erased.
const std::string kHourlyRollup =
    "SELECT tool, hour, tool_version, kind, name, os, os_version, arch, ci, success, sum(events) FROM rollup_hourly"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(events) <> 0";
const std::string kHourlyRaw =
    "SELECT tool, date_trunc('hour', id_time, 'UTC'), tool_version, kind, name, os, os_version, arch, ci,"
    " (CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END)::smallint, count(*) FROM events"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10";
const std::string kDurationRollup =
    "SELECT tool, hour, name, bucket, sum(events) FROM rollup_duration GROUP BY 1, 2, 3, 4 HAVING sum(events) <> 0";
const std::string kDurationRaw =
    "SELECT tool, date_trunc('hour', id_time, 'UTC'), name, tk_duration_bucket(duration_us), count(*) FROM events"
    " WHERE duration_us IS NOT NULL GROUP BY 1, 2, 3, 4";
const std::string kDaysRollup = "SELECT tool, day, anonymous_id FROM rollup_installs_daily";
const std::string kDaysRaw = "SELECT DISTINCT tool, (id_time AT TIME ZONE 'UTC')::date, anonymous_id FROM events";
const std::string kFirstSeenRollup = "SELECT tool, anonymous_id, first_day, last_day FROM rollup_install_first_seen";
const std::string kFirstSeenRaw =
    "SELECT tool, anonymous_id, min((id_time AT TIME ZONE 'UTC')::date), max((id_time AT TIME ZONE 'UTC')::date)"
    " FROM events GROUP BY 1, 2";

// Migration 005's daily rollups, against the same raw aggregation.
const std::string kDailyNamesRollup =
    "SELECT tool, day, name, kind, success, sum(events) FROM rollup_daily_names GROUP BY 1, 2, 3, 4, 5"
    " HAVING sum(events) <> 0";
const std::string kDailyNamesRaw =
    "SELECT tool, (id_time AT TIME ZONE 'UTC')::date, name, kind,"
    " (CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END)::smallint, count(*) FROM events"
    " GROUP BY 1, 2, 3, 4, 5";
const std::string kDailyPlatformRollup =
    "SELECT tool, day, tool_version, os, os_version, arch, ci, success, sum(events) FROM rollup_daily_platform"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(events) <> 0";
const std::string kDailyPlatformRaw =
    "SELECT tool, (id_time AT TIME ZONE 'UTC')::date, tool_version, os, os_version, arch, ci,"
    " (CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END)::smallint, count(*) FROM events"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8";
const std::string kDailyDurationRollup =
    "SELECT tool, day, bucket, sum(events) FROM rollup_daily_duration GROUP BY 1, 2, 3 HAVING sum(events) <> 0";
const std::string kDailyDurationRaw =
    "SELECT tool, (id_time AT TIME ZONE 'UTC')::date, tk_duration_bucket(duration_us), count(*) FROM events"
    " WHERE duration_us IS NOT NULL GROUP BY 1, 2, 3";

// Migration 008: durations by name and exit codes per UTC day, installs per ISO week and month,
// and the per-period counts of install rows.
const std::string kDailyNameDurationRaw =
    "SELECT tool, (id_time AT TIME ZONE 'UTC')::date, name, tk_duration_bucket(duration_us), count(*) FROM events"
    " WHERE duration_us IS NOT NULL GROUP BY 1, 2, 3, 4";
const std::string kExitCodesRollup =
    "SELECT tool, day, kind, success, exit_code, sum(events) FROM rollup_daily_exit_codes GROUP BY 1, 2, 3, 4, 5"
    " HAVING sum(events) <> 0";
const std::string kExitCodesRaw =
    "SELECT tool, (id_time AT TIME ZONE 'UTC')::date, kind,"
    " (CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END)::smallint, coalesce(exit_code::text, ''),"
    " count(*) FROM events GROUP BY 1, 2, 3, 4, 5";
const std::string kWeeksRollup = "SELECT tool, week, anonymous_id FROM rollup_installs_weekly";
const std::string kWeeksRaw =
    "SELECT DISTINCT tool, date_trunc('week', id_time AT TIME ZONE 'UTC')::date, anonymous_id FROM events"
    " WHERE anonymous_id <> ''";
const std::string kMonthsRollup = "SELECT tool, month, anonymous_id FROM rollup_installs_monthly";
const std::string kMonthsRaw =
    "SELECT DISTINCT tool, date_trunc('month', id_time AT TIME ZONE 'UTC')::date, anonymous_id FROM events"
    " WHERE anonymous_id <> ''";
const std::string kInstallCountsRollup =
    "SELECT tool, period, start, sum(installs) FROM rollup_install_counts GROUP BY 1, 2, 3 HAVING sum(installs) <> 0";
const std::string kInstallCountsRaw =  // a subquery: EXCEPT ALL would bind to its first UNION ALL
    "SELECT * FROM (SELECT tool, 'day'::text, (id_time AT TIME ZONE 'UTC')::date, count(DISTINCT anonymous_id) FROM "
    "events"
    " WHERE anonymous_id <> '' GROUP BY 1, 3 UNION ALL SELECT tool, 'week', date_trunc('week', id_time AT TIME ZONE"
    " 'UTC')::date, count(DISTINCT anonymous_id) FROM events WHERE anonymous_id <> '' GROUP BY 1, 3 UNION ALL"
    " SELECT tool, 'month', date_trunc('month', id_time AT TIME ZONE 'UTC')::date, count(DISTINCT anonymous_id)"
    " FROM events WHERE anonymous_id <> '' GROUP BY 1, 3) c";

// Migration 009: weekly and monthly tiers of the daily counts, duration histograms by name per
// day, week and month (one row per bucket here: generate_subscripts() unfolds each histogram).
std::string tier_rollup(const std::string& table, const std::string& period, const std::string& keys) {
    return "SELECT tool, " + period + ", " + keys + ", sum(events) FROM " + table + " GROUP BY tool, " + period + ", " +
           keys + " HAVING sum(events) <> 0";
}
std::string tier_raw(const std::string& period, const std::string& keys, const std::string& where = "") {
    return "SELECT tool, date_trunc('" + period + "', id_time AT TIME ZONE 'UTC')::date AS p, " + keys +
           ", count(*) FROM (SELECT *, (CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END)::smallint AS ok,"
           " tk_duration_bucket(duration_us) AS bucket FROM events) e " +
           where + " GROUP BY tool, p, " + keys;
}
std::string histogram_rollup(const std::string& table, const std::string& period) {
    return "SELECT tool, " + period + ", name, i, sum(counts[i]) FROM " + table +
           ", generate_subscripts(counts, 1) AS i GROUP BY 1, 2, 3, 4 HAVING sum(counts[i]) <> 0";
}

void check_tiers_match_events(const CollectorFixture& collector) {
    for (const std::string period : {"week", "month"}) {
        const std::string tier = period == "week" ? "weekly" : "monthly";
        INFO(tier);
        CHECK(difference(collector, tier_rollup("rollup_" + tier + "_names", period, "name, kind, success"),
                         tier_raw(period, "name, kind, ok")) == "0");
        CHECK(difference(collector,
                         tier_rollup("rollup_" + tier + "_platform", period,
                                     "tool_version, os, os_version, arch, ci, success"),
                         tier_raw(period, "tool_version, os, os_version, arch, ci, ok")) == "0");
        CHECK(difference(collector, tier_rollup("rollup_" + tier + "_duration", period, "bucket"),
                         tier_raw(period, "bucket", "WHERE duration_us IS NOT NULL")) == "0");
        CHECK(difference(collector, histogram_rollup("rollup_" + tier + "_name_histogram", period),
                         tier_raw(period, "name, bucket", "WHERE duration_us IS NOT NULL")) == "0");
    }
    CHECK(difference(collector, histogram_rollup("rollup_daily_name_histogram", "day"), kDailyNameDurationRaw) == "0");
}

void check_rollups_match_events(const CollectorFixture& collector) {
    check_tiers_match_events(collector);
    CHECK(difference(collector, kExitCodesRollup, kExitCodesRaw) == "0");
    CHECK(difference(collector, kWeeksRollup, kWeeksRaw) == "0");
    CHECK(difference(collector, kMonthsRollup, kMonthsRaw) == "0");
    CHECK(difference(collector, kInstallCountsRollup, kInstallCountsRaw) == "0");
    CHECK(difference(collector, kDailyNamesRollup, kDailyNamesRaw) == "0");
    CHECK(difference(collector, kDailyPlatformRollup, kDailyPlatformRaw) == "0");
    CHECK(difference(collector, kDailyDurationRollup, kDailyDurationRaw) == "0");
    CHECK(difference(collector, kHourlyRollup, kHourlyRaw) == "0");
    CHECK(difference(collector, kDurationRollup, kDurationRaw) == "0");
    CHECK(difference(collector, kDaysRollup, kDaysRaw) == "0");
    CHECK(difference(collector, kFirstSeenRollup, kFirstSeenRaw) == "0");
}

}  // namespace

TEST_CASE("rollups equal the raw aggregation after resends, two senders at once and erasure") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const std::string other_key = collector.create_key("other");
    const auto events = random_events("my-cli", 3000, 17);
    const auto other = random_events("other", 500, 18);

    // Two senders at once, overlapping: the first half and the middle are sent twice, as a
    // forwarder resends a batch whose ack it lost.
    std::thread second([&] {
        post_all(collector, key, std::vector<Event>(events.begin() + 1000, events.end()), 250);
        post_all(collector, other_key, other, 100);
    });
    post_all(collector, key, std::vector<Event>(events.begin(), events.begin() + 2000), 100);
    second.join();
    post_all(collector, key, std::vector<Event>(events.begin(), events.begin() + 1500), 300);

    REQUIRE(collector.query("SELECT count(*) FROM events") == "3500");
    CHECK(collector.query("SELECT sum(events) FROM rollup_hourly") == "3500");
    CHECK(collector.query("SELECT sum(events) FROM rollup_duration") ==
          collector.query("SELECT count(*) FROM events WHERE duration_us IS NOT NULL"));
    check_rollups_match_events(collector);

    // Erasure of two installs: their counts leave every rollup, other tools' installs of the same id stay.
    for (const char* subject : {"install-3", "install-7"}) {
        const auto erased = http_request(collector.port(), http::verb::delete_, std::string("/v1/subjects/") + subject,
                                         {}, {{"Authorization", "Bearer " + key}});
        REQUIRE(erased.status == 200);
    }
    CHECK(collector.query("SELECT count(*) FROM rollup_installs_daily WHERE tool = 'my-cli'"
                          " AND anonymous_id IN ('install-3', 'install-7')") == "0");
    CHECK(collector.query("SELECT count(*) FROM rollup_install_first_seen WHERE tool = 'other'"
                          " AND anonymous_id = 'install-3'") == "1");
    check_rollups_match_events(collector);

    // Housekeeping's fold (shard_folding.cpp) over every period of the data: every key has one
    // row left, every sum is unchanged, and a fold again finds nothing.
    const auto spread_rows = [&] {  // rows outside shard 0 of the keys that have several rows
        std::int64_t rows = 0;
        for (const auto& rollup : tk::collector::sharded_rollups()) {
            const std::string key = std::string("tool, ") + rollup.period + ", " + rollup.keys;
            rows += std::stoll(collector.query("SELECT count(*) FROM " + std::string(rollup.table) +
                                               " WHERE shard <> 0 AND (" + key + ") IN (SELECT " + key + " FROM " +
                                               rollup.table + " GROUP BY " + key + " HAVING count(*) > 1)"));
        }
        return rows;
    };
    const std::int64_t before = spread_rows();
    INFO("rows of several-row keys outside shard 0 before the fold: " << before);
    REQUIRE(before > 0);  // two senders at once: the collector's connections have different pids
    tk::collector::Connection conn(collector.database_url());
    const auto days = conn.exec(
        "SELECT min(id_time AT TIME ZONE 'UTC')::date - DATE '1970-01-01',"
        " max(id_time AT TIME ZONE 'UTC')::date - DATE '1970-01-01' FROM events");
    const std::int64_t first = std::stoll(std::string(days.value(0, 0)));
    const std::int64_t last = std::stoll(std::string(days.value(0, 1)));
    std::int64_t folded = 0;
    const auto tools = tk::collector::rollup_tools(conn);
    CHECK(tools == std::vector<std::string>{"my-cli", "other"});
    for (const auto& tool : tools) folded += tk::collector::fold_rollup_shards(conn, tool, first, last + 32);
    CHECK(folded == before);
    CHECK(spread_rows() == 0);
    check_rollups_match_events(collector);
    for (const auto& tool : tools) CHECK(tk::collector::fold_rollup_shards(conn, tool, first, last + 32) == 0);
}

TEST_CASE("duration buckets: 8 per doubling, each value within 4.4% of what it holds") {
    CollectorFixture collector;
    // Every duration from 1 µs to 10^9 µs (in steps of 1%) lands in a bucket whose value is within 4.4%.
    CHECK(collector.query("SELECT count(*) FROM (SELECT d, tk_bucket_value(tk_duration_bucket(d)) AS v FROM"
                          " (SELECT round(power(1.01, i))::bigint AS d FROM generate_series(0, 2083) i) s) t"
                          " WHERE abs(v - d) / d > 0.0443") == "0");
    CHECK(collector.query("SELECT tk_duration_bucket(0) || ',' || tk_duration_bucket(1) || ',' ||"
                          " tk_duration_bucket(3) || ',' || tk_duration_bucket(1000)") == "0,1,13,80");
}

TEST_CASE("rollups keep names with quotes, commas, braces, backslashes and non-ASCII text intact") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    Batch batch;
    for (const char* name : {"say \"hi\"", "a,b", "{x}", "back\\slash", "caf\u00e9 \u2615", "NULL"}) {
        *batch.add_events() = make_event("my-cli", name, "install-1");
        *batch.add_events() = make_event("my-cli", name, "it's \"quoted\"");
    }
    const auto posted = post_batch(collector.port(), key, batch);
    INFO(collector.log());
    REQUIRE(posted.status == 200);
    REQUIRE(collector.query("SELECT count(*) FROM events") == "12");
    check_rollups_match_events(collector);
}
