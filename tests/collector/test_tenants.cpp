// Tools as tenants (issue 14) on the real tk-collector over a throwaway PostgreSQL: monthly quota
// with grace (quota_exceeded in the BatchAck, nothing stored, usage in /metrics), the month's turn
// with a clock the test controls (TK_TEST_NOW_FILE), `tk-collector tools`, and per-tool retention.
#include <catch2/catch.hpp>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"
#include "support/process.hpp"
#include "support/test_clock.hpp"

using namespace tk::test;

namespace {

constexpr std::int64_t kJan15 = 1'799'971'200'000;  // 2027-01-15 00:00:00 UTC
constexpr std::int64_t kFeb1 = 1'801'440'000'000;   // 2027-02-01 00:00:00 UTC
constexpr std::int64_t kDayMs = 86'400'000;

std::string metrics(const CollectorFixture& collector) {
    return http_request(collector.port(), http::verb::get, "/metrics").body;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A valid event of `tool` whose UUIDv7 was made `age_ms` ago (the random bits stay random).
Event event_aged(const std::string& tool, std::int64_t age_ms) {
    Event event = make_event(tool);
    std::string id = event.id();
    const auto ms = static_cast<std::uint64_t>(static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7())) - age_ms);
    for (int i = 0; i < 6; ++i) id[static_cast<std::size_t>(i)] = static_cast<char>((ms >> (8 * (5 - i))) & 0xFF);
    event.set_id(id);
    event.set_timestamp_unix_ms(static_cast<std::int64_t>(ms));
    return event;
}

}  // namespace

TEST_CASE("tenants: past quota plus grace a batch gets quota_exceeded with the reset time and nothing is stored") {
    TestClock clock(kJan15);
    CollectorFixture collector;
    const std::string key = collector.create_key("small");
    const std::string other_key = collector.create_key("other");
    REQUIRE(collector.run_command({"tools", "add", "small", "--monthly-quota", "10", "--grace", "20"}).exit_code == 0);

    const Batch first = make_batch("small", 8);
    CHECK(parse_ack(post_batch(collector.port(), key, first)).accepted_size() == 8);
    // A resent batch is duplicate and does not count.
    CHECK(parse_ack(post_batch(collector.port(), key, first)).duplicate_size() == 8);
    CHECK(collector.query("SELECT sum(events) FROM tool_usage WHERE tool = 'small'") == "8");
    // Under quota * 1.2 = 12 when it starts: taken whole.
    CHECK(parse_ack(post_batch(collector.port(), key, make_batch("small", 4))).accepted_size() == 4);

    const Batch refused = make_batch("small", 3);
    const BatchAck ack = parse_ack(post_batch(collector.port(), key, refused));
    REQUIRE(ack.has_quota_exceeded());
    CHECK(ack.quota_exceeded().reset_unix_ms() == kFeb1);
    CHECK(ack.quota_exceeded().quota() == 10);
    CHECK(ack.quota_exceeded().used() == 12);
    CHECK(ack.accepted_size() == 0);
    CHECK(ack.duplicate_size() == 0);
    CHECK(ack.rejected_size() == 0);
    CHECK(collector.count_events("tool = 'small'") == 12);
    CHECK(collector.query("SELECT sum(events) FROM rollup_hourly WHERE tool = 'small'") == "12");

    // Invalid events are still rejected by name (they would never be stored anyway).
    Batch mixed = make_batch("small", 1);
    mixed.add_events()->CopyFrom(make_event("small", ""));
    const BatchAck mixed_ack = parse_ack(post_batch(collector.port(), key, mixed));
    CHECK(mixed_ack.has_quota_exceeded());
    CHECK(mixed_ack.rejected_size() == 1);

    // Another tool (no row in tools) keeps the global behaviour.
    CHECK(parse_ack(post_batch(collector.port(), other_key, make_batch("other", 30))).accepted_size() == 30);

    const std::string shown = metrics(collector);
    CHECK(has(shown, "tk_collector_tool_events_this_month{tool=\"small\"} 12\n"));
    CHECK(has(shown, "tk_collector_tool_monthly_quota{tool=\"small\"} 10\n"));
    CHECK(has(shown, "tk_collector_quota_exceeded_total{tool=\"small\"} 2\n"));
    CHECK(has(shown, "tk_collector_tool_events_this_month{tool=\"other\"} 30\n"));
    CHECK_FALSE(has(shown, "tk_collector_tool_monthly_quota{tool=\"other\"}"));

    // The month turns (the test's clock): the same batch is taken.
    clock.set(kFeb1);
    CHECK(parse_ack(post_batch(collector.port(), key, refused)).accepted_size() == 3);
    CHECK(collector.count_events("tool = 'small'") == 15);
    const auto listed = collector.run_command({"tools", "show", "small"});
    CHECK(listed.exit_code == 0);
    CHECK(has(listed.out, "small\tdefault\t10\t20\tforever\t3\n"));

    // A raised quota opens it again within the month.
    clock.set(kFeb1 + 5 * kDayMs);
    REQUIRE(collector.run_command({"tools", "set", "small", "--monthly-quota", "3", "--grace", "0"}).exit_code == 0);
    CHECK(parse_ack(post_batch(collector.port(), key, make_batch("small", 1))).has_quota_exceeded());
    REQUIRE(collector.run_command({"tools", "set", "small", "--monthly-quota", "none"}).exit_code == 0);
    CHECK(parse_ack(post_batch(collector.port(), key, make_batch("small", 1))).accepted_size() == 1);
}

TEST_CASE("tenants: tk-collector tools add, set, list and show, and their errors") {
    TestClock clock(kJan15);
    CollectorFixture collector;
    CHECK(collector
              .run_command({"tools", "add", "a", "--retention-days", "30", "--monthly-quota", "10000",
                            "--rollup-retention-days", "400"})
              .exit_code == 0);
    const auto again = collector.run_command({"tools", "add", "a"});
    CHECK(again.exit_code == 1);
    CHECK(has(again.err, "tool a already has settings; change them with `tools set`"));
    const auto missing = collector.run_command({"tools", "set", "b", "--grace", "5"});
    CHECK(missing.exit_code == 1);
    CHECK(has(missing.err, "tool b has no settings yet; add them with `tools add`"));
    const auto nothing = collector.run_command({"tools", "set", "a"});
    CHECK(nothing.exit_code == 2);
    CHECK(has(nothing.err, "nothing to change"));
    const auto bad = collector.run_command({"tools", "set", "a", "--retention-days", "0"});
    CHECK(bad.exit_code == 2);
    CHECK(has(bad.err, "--retention-days: must be at least 1, got 0"));
    const auto word = collector.run_command({"tools", "set", "a", "--monthly-quota", "lots"});
    CHECK(word.exit_code == 2);
    CHECK(has(word.err, "--monthly-quota: expected a whole number or \"none\", got \"lots\""));
    const auto grace = collector.run_command({"tools", "set", "a", "--grace", "5000"});
    CHECK(grace.exit_code == 2);

    CHECK(collector.run_command({"tools", "set", "a", "--retention-days", "default", "--grace", "10"}).exit_code == 0);
    CHECK(collector.run_command({"tools", "add", "b", "--monthly-quota", "0"}).exit_code == 0);
    const auto list = collector.run_command({"tools", "list"});
    CHECK(list.exit_code == 0);
    CHECK(list.out ==
          "tool\tretention_days\tmonthly_quota\tgrace_percent\trollup_retention_days\tused_this_month\n"
          "a\tdefault\t10000\t10\t400\t0\n"
          "b\tdefault\t0\t0\tforever\t0\n");
    const auto unknown = collector.run_command({"tools", "show", "zzz"});
    CHECK(unknown.exit_code == 1);
    CHECK(has(unknown.err, "tool zzz has no settings and no usage this month"));
}

TEST_CASE("tenants: per-tool retention removes exactly that tool's expired events and rollups") {
    CollectorFixture collector;
    const std::string short_key = collector.create_key("short");
    const std::string long_key = collector.create_key("long");
    // Old and new events of both tools, and old ones of a tool with the global behaviour.
    Batch short_batch;
    Batch long_batch;
    for (int i = 0; i < 40; ++i) {
        *short_batch.add_events() = event_aged("short", (40 + i) * kDayMs);  // 40-79 days old
        *long_batch.add_events() = event_aged("long", (40 + i) * kDayMs);
    }
    for (int i = 0; i < 25; ++i) {
        *short_batch.add_events() = event_aged("short", i * kDayMs + 60'000);  // 0-24 days old
        *long_batch.add_events() = event_aged("long", i * kDayMs + 60'000);
    }
    REQUIRE(parse_ack(post_batch(collector.port(), short_key, short_batch)).accepted_size() == 65);
    REQUIRE(parse_ack(post_batch(collector.port(), long_key, long_batch)).accepted_size() == 65);
    REQUIRE(collector.run_command({"tools", "add", "short", "--retention-days", "30", "--rollup-retention-days", "60"})
                .exit_code == 0);

    collector.stop();
    collector.start();  // housekeeping runs at start (then hourly)
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'short'") == 25; }, std::chrono::seconds(30)));
    CHECK(collector.count_events("tool = 'short' AND id_time < now() - interval '30 days'") == 0);
    CHECK(collector.count_events("tool = 'long'") == 65);
    // Install days go with the raw events; counts are kept for the rollup retention (60 days).
    CHECK(collector.query("SELECT count(*) FROM rollup_installs_daily WHERE tool = 'short' AND day < "
                          "(now() AT TIME ZONE 'UTC')::date - 31") == "0");
    CHECK(collector.query("SELECT count(*) FROM rollup_installs_daily WHERE tool = 'long' AND day < "
                          "(now() AT TIME ZONE 'UTC')::date - 31") != "0");
    CHECK(collector.query("SELECT coalesce(sum(events), 0) FROM rollup_daily_names WHERE tool = 'short' AND day < "
                          "(now() AT TIME ZONE 'UTC')::date - 61") == "0");
    CHECK(collector.query("SELECT sum(events) FROM rollup_daily_names WHERE tool = 'short' AND day BETWEEN "
                          "(now() AT TIME ZONE 'UTC')::date - 58 AND (now() AT TIME ZONE 'UTC')::date - 42") != "0");
    CHECK(collector.query("SELECT sum(events) FROM rollup_hourly WHERE tool = 'long'") == "65");
    // The log line comes after every rollup table's delete: wait for it, bounded.
    CHECK(wait_until([&] { return has(collector.log(), "retention: deleted 40 events"); }, std::chrono::seconds(30)));
}
