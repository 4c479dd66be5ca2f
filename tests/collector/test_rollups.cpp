// The rollups (migration 004) at the real tk-collector over a real PostgreSQL: for random events,
// resent batches, two senders at once and erasures, every rollup row equals what the same
// aggregation over the raw events gives — counted once per event actually stored.
#include <catch2/catch.hpp>

#include <random>
#include <thread>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

using namespace tk::test;

namespace {

/// A UUIDv7 whose time is `ms`, with random bits from `rng`.
std::string id_at(std::int64_t ms, std::mt19937_64& rng) {
    std::string id(16, '\0');
    for (int i = 0; i < 6; ++i) id[i] = static_cast<char>((ms >> (8 * (5 - i))) & 0xff);
    const std::uint64_t a = rng();
    const std::uint64_t b = rng();
    for (int i = 6; i < 16; ++i) id[i] = static_cast<char>(((i < 11 ? a : b) >> (8 * (i % 8))) & 0xff);
    id[6] = static_cast<char>(0x70 | (id[6] & 0x0f));
    id[8] = static_cast<char>(0x80 | (id[8] & 0x3f));
    return id;
}

/// `count` events of `tool` spread over the last 72 hours, from 40 installs, with every dimension
/// varying and durations spread over six orders of magnitude.
std::vector<Event> random_events(const std::string& tool, int count, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto pick = [&](std::initializer_list<const char*> options) {
        return std::string(*(options.begin() + rng() % options.size()));
    };
    const std::int64_t now_ms = static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7()));
    std::vector<Event> events;
    for (int i = 0; i < count; ++i) {
        Event event = make_event(tool, pick({"build", "test", "run", "deploy", "lint"}),
                                 "install-" + std::to_string(rng() % 40));
        const std::int64_t ms = now_ms - static_cast<std::int64_t>(rng() % (72ull * 3'600'000));
        event.set_id(id_at(ms, rng));
        event.set_timestamp_unix_ms(ms);
        event.set_tool_version(pick({"1.0.0", "1.1.0", "2.0.0"}));
        event.set_os(pick({"linux", "macos", ""}));
        event.set_os_version(event.os() == "linux" ? pick({"debian 12", "ubuntu 24"}) : "");
        event.set_arch(pick({"x86_64", "arm64"}));
        event.set_ci(rng() % 5 == 0);
        switch (rng() % 3) {
            case 0: event.set_success(true); break;
            case 1: event.set_success(false); break;
            default: event.clear_success();
        }
        if (rng() % 4 == 0) {
            event.clear_duration_us();
        } else {
            event.set_duration_us(static_cast<std::int64_t>(std::pow(10.0, static_cast<double>(rng() % 6000) / 1000.0)));
        }
        if (rng() % 10 == 0) event.set_kind(telemetry_kit::v1::EVENT_KIND_FEATURE);
        events.push_back(event);
    }
    return events;
}

void post_all(const CollectorFixture& collector, const std::string& key, const std::vector<Event>& events,
              std::size_t per_batch) {
    for (std::size_t start = 0; start < events.size(); start += per_batch) {
        Batch batch;
        for (std::size_t i = start; i < std::min(events.size(), start + per_batch); ++i) *batch.add_events() = events[i];
        REQUIRE(post_batch(collector.port(), key, batch).status == 200);
    }
}

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

void check_rollups_match_events(const CollectorFixture& collector) {
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
