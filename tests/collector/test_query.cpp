// GET /v1/query: parameters (pure parse_query), read tokens at the real tk-collector, and every
// answer the rollups give checked against the same question answered from the raw events
// (source=events) over random data: exact counts, percentiles within the buckets' 4.43%.
#include <catch2/catch.hpp>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>

#include "batch_helpers.hpp"
#include "random_events.hpp"
#include "support/collector_fixture.hpp"
#include "tk/collector/query.hpp"
#include "tk/common/calendar.hpp"

using namespace tk::test;
using tk::collector::parse_query;
using tk::collector::QueryParams;

namespace {

std::string parse_error(const std::string& query) {
    const auto parsed = parse_query(query);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "";
}

std::string make_token(const CollectorFixture& collector, const std::string& tool) {
    const auto made = collector.run_command({"tokens", "create", "--tool", tool});
    REQUIRE(made.exit_code == 0);
    return made.out.substr(0, made.out.size() - 1);
}

HttpResponse get_query(const CollectorFixture& collector, const std::string& token, const std::string& query) {
    return http_request(collector.port(), http::verb::get, "/v1/query?" + query, {},
                        {{"Authorization", "Bearer " + token}});
}

/// An answer's rows as (bucket | group) -> value (NaN for null).
std::map<std::string, double> rows_of(const std::string& body, const char* part = "rows") {
    google::protobuf::Struct answer;
    REQUIRE(google::protobuf::util::JsonStringToMessage(body, &answer).ok());
    const auto& fields = answer.fields();
    const google::protobuf::ListValue* rows = nullptr;
    if (std::string(part) == "rows") {
        rows = &fields.at("rows").list_value();
    } else {
        rows = &fields.at("previous").struct_value().fields().at("rows").list_value();
    }
    std::map<std::string, double> out;
    for (const auto& row : rows->values()) {
        const auto& cells = row.struct_value().fields();
        const std::string key = (cells.count("bucket") ? cells.at("bucket").string_value() : "") + "|" +
                                (cells.count("group") ? cells.at("group").string_value() : "");
        const auto& value = cells.at("value");
        out[key] = value.has_null_value() ? std::nan("") : value.number_value();
    }
    return out;
}

std::string field_of(const std::string& body, const std::string& name) {
    google::protobuf::Struct answer;
    REQUIRE(google::protobuf::util::JsonStringToMessage(body, &answer).ok());
    return answer.fields().count(name) ? answer.fields().at(name).string_value() : "";
}

}  // namespace

TEST_CASE("parse_query: defaults, every parameter, and a clear reason for each bad one") {
    const auto parsed = parse_query(
        "tool=my-cli&metric=success_rate&by=os&interval=day&from=2026-11-01&"
        "to=2026-11-08T12:30&tz=Europe%2FBerlin&filter=name:build&filter=name:test&"
        "filter=attribute:cache:hit&compare=previous");
    REQUIRE(std::holds_alternative<QueryParams>(parsed));
    const auto& params = std::get<QueryParams>(parsed);
    CHECK(params.tool == "my-cli");
    CHECK(params.metric == tk::collector::Metric::success_rate);
    CHECK(params.by == "os");
    CHECK(params.tz == "Europe/Berlin");
    CHECK(params.to == "2026-11-08T12:30");
    REQUIRE(params.filters.size() == 3);
    CHECK(params.filters[2] == std::pair<std::string, std::string>("attribute:cache", "hit"));
    CHECK(params.compare_previous);
    CHECK_FALSE(tk::collector::rollups_answer(params));  // an attribute filter needs the raw events

    CHECK(parse_error("metric=events") == "tool: required");
    CHECK(parse_error("tool=a&metric=clicks").rfind("metric: one of", 0) == 0);
    CHECK(parse_error("tool=a&by=hostname").rfind("by: one of", 0) == 0);
    CHECK(parse_error("tool=a&interval=year").rfind("interval: one of", 0) == 0);
    CHECK(parse_error("tool=a&from=yesterday").rfind("from: YYYY-MM-DD", 0) == 0);
    CHECK(parse_error("tool=a&tz=UTC;DROP").rfind("tz:", 0) == 0);
    CHECK(parse_error("tool=a&filter=os").rfind("filter:", 0) == 0);
    CHECK(parse_error("tool=a&sort=desc") == "unknown parameter sort");
    CHECK(parse_error("tool=a&by=%zz") == "malformed percent-encoding");
    CHECK(parse_error("tool=a&metric=new_installs&by=os").rfind("new_installs:", 0) == 0);
    CHECK(parse_error("tool=a&metric=installs&interval=hour").rfind("installs and new_installs count days", 0) == 0);
    CHECK(parse_error("tool=a&by=exit_code&tz=Europe%2FBerlin&source=rollups").rfind("source=rollups:", 0) == 0);
    CHECK(parse_error("tool=a&by=exit_code&filter=os:linux&source=rollups").rfind("source=rollups:", 0) == 0);
    CHECK(parse_error("tool=a&by=exit_code&filter=success:false&source=rollups").empty());  // migration 008
}

TEST_CASE("period_cover: per bucket of the interval, no piece crossing a bucket, contiguous pieces merged") {
    using tk::calendar::days_from_civil;
    using tk::collector::InstallPiece;
    using tk::collector::InstallTable;
    using tk::collector::Interval;
    using tk::collector::period_cover;
    const auto day = [](int y, int m, int d) { return days_from_civil(y, m, d); };
    // No interval: install_cover()'s pieces.
    CHECK(period_cover(Interval::none, day(2025, 11, 2), day(2026, 12, 3)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2025, 11, 2), day(2025, 11, 3)},
                                    {InstallTable::daily, day(2026, 12, 1), day(2026, 12, 3)},
                                    {InstallTable::weekly, day(2025, 11, 3), day(2025, 12, 1)},
                                    {InstallTable::monthly, day(2025, 12, 1), day(2026, 12, 1)}});
    // Days: the daily table only, in one piece.
    CHECK(period_cover(Interval::day, day(2025, 11, 2), day(2026, 12, 3)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2025, 11, 2), day(2026, 12, 3)}});
    // Weeks over 13 months: the cut-short weeks at the ends by day, every whole week in one piece.
    CHECK(period_cover(Interval::week, day(2025, 11, 2), day(2026, 12, 3)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2025, 11, 2), day(2025, 11, 3)},
                                    {InstallTable::daily, day(2026, 11, 30), day(2026, 12, 3)},
                                    {InstallTable::weekly, day(2025, 11, 3), day(2026, 11, 30)}});
    // Months over a range that holds no whole month: whole weeks within each month, never one that
    // straddles the month's end (the week of 30 Nov - 6 Dec goes by day), the days merged.
    CHECK(period_cover(Interval::month, day(2026, 11, 3), day(2026, 12, 10)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2026, 11, 3), day(2026, 11, 9)},
                                    {InstallTable::daily, day(2026, 11, 30), day(2026, 12, 10)},
                                    {InstallTable::weekly, day(2026, 11, 9), day(2026, 11, 30)}});
    // Whatever the range and interval: disjoint pieces that cover it exactly, none crossing a
    // bucket's edge, whole weeks and months only from those tables.
    for (const Interval interval : {Interval::none, Interval::day, Interval::week, Interval::month}) {
        for (std::int64_t begin = day(2026, 1, 25); begin < day(2026, 3, 10); begin += 3) {
            for (std::int64_t end = begin; end < day(2026, 5, 10); end += 5) {
                std::vector<int> covered(static_cast<std::size_t>(end - begin), 0);
                for (const auto& piece : period_cover(interval, begin, end)) {
                    REQUIRE(piece.begin >= begin);
                    REQUIRE(piece.end <= end);
                    for (std::int64_t d = piece.begin; d < piece.end; ++d)
                        ++covered[static_cast<std::size_t>(d - begin)];
                    if (piece.table == InstallTable::monthly) {
                        CHECK(tk::calendar::month_start(piece.begin) == piece.begin);
                        CHECK(tk::calendar::month_start(piece.end) == piece.end);
                        CHECK(interval != Interval::week);
                        CHECK(interval != Interval::day);
                    } else if (piece.table == InstallTable::weekly) {
                        CHECK(tk::calendar::week_start(piece.begin) == piece.begin);
                        CHECK((piece.end - piece.begin) % 7 == 0);
                        CHECK(interval != Interval::day);
                        if (interval == Interval::month) {  // each week inside one month
                            for (std::int64_t w = piece.begin; w < piece.end; w += 7) {
                                CHECK(tk::calendar::month_start(w) == tk::calendar::month_start(w + 6));
                            }
                        }
                    }
                }
                CHECK(std::all_of(covered.begin(), covered.end(), [](int n) { return n == 1; }));
            }
        }
    }
}

TEST_CASE("parse_histogram: PostgreSQL's array text with or without bounds, NULL buckets left out") {
    using tk::collector::parse_histogram;
    using Buckets = std::vector<std::pair<int, long long>>;
    CHECK(parse_histogram("[3:5]={1,NULL,-2}") == Buckets{{3, 1}, {5, -2}});
    CHECK(parse_histogram("{7,8}") == Buckets{{1, 7}, {2, 8}});
    CHECK(parse_histogram("[0:0]={12345678901}") == Buckets{{0, 12345678901}});
    CHECK(parse_histogram("{}").empty());
    CHECK(parse_histogram("").empty());
}

TEST_CASE("install_cover: whole months, then whole ISO weeks, then days, covering exactly the range") {
    using tk::calendar::days_from_civil;
    using tk::collector::install_cover;
    using tk::collector::InstallPiece;
    using tk::collector::InstallTable;
    const auto day = [](int y, int m, int d) { return days_from_civil(y, m, d); };
    // 2026-11-03 (Tue) .. 2026-12-03 (Thu, excluded): days, three weeks from Monday 9 Nov, days.
    CHECK(install_cover(day(2026, 11, 3), day(2026, 12, 3)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2026, 11, 3), day(2026, 11, 9)},
                                    {InstallTable::weekly, day(2026, 11, 9), day(2026, 11, 30)},
                                    {InstallTable::daily, day(2026, 11, 30), day(2026, 12, 3)}});
    // 13 months: the whole months, and weeks and days at both ends.
    CHECK(install_cover(day(2025, 11, 2), day(2026, 12, 3)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2025, 11, 2), day(2025, 11, 3)},
                                    {InstallTable::weekly, day(2025, 11, 3), day(2025, 12, 1)},
                                    {InstallTable::monthly, day(2025, 12, 1), day(2026, 12, 1)},
                                    {InstallTable::daily, day(2026, 12, 1), day(2026, 12, 3)}});
    // One month exactly, one week exactly, a day, and a range inside one week.
    CHECK(install_cover(day(2026, 2, 1), day(2026, 3, 1)) ==
          std::vector<InstallPiece>{{InstallTable::monthly, day(2026, 2, 1), day(2026, 3, 1)}});
    CHECK(install_cover(day(2026, 11, 30), day(2026, 12, 7)) ==
          std::vector<InstallPiece>{{InstallTable::weekly, day(2026, 11, 30), day(2026, 12, 7)}});
    CHECK(install_cover(day(2026, 12, 2), day(2026, 12, 3)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2026, 12, 2), day(2026, 12, 3)}});
    CHECK(install_cover(day(2026, 12, 1), day(2026, 12, 4)) ==
          std::vector<InstallPiece>{{InstallTable::daily, day(2026, 12, 1), day(2026, 12, 4)}});
    CHECK(install_cover(day(2026, 12, 4), day(2026, 12, 4)).empty());
    // Whatever the range, the pieces are disjoint and cover it day by day.
    for (std::int64_t begin = day(2026, 1, 25); begin < day(2026, 3, 10); begin += 3) {
        for (std::int64_t end = begin; end < day(2026, 5, 10); end += 5) {
            std::int64_t next = begin;
            for (const auto& piece : install_cover(begin, end)) {
                CHECK(piece.begin == next);
                if (piece.table == InstallTable::monthly) {
                    CHECK(tk::calendar::month_start(piece.begin) == piece.begin);
                    CHECK(tk::calendar::month_start(piece.end) == piece.end);
                } else if (piece.table == InstallTable::weekly) {
                    CHECK(tk::calendar::week_start(piece.begin) == piece.begin);
                    CHECK((piece.end - piece.begin) % 7 == 0);
                }
                next = piece.end;
            }
            CHECK(next == end);
        }
    }
}

TEST_CASE("GET /v1/query: a token reads only its tools, revoked tokens and ingest keys read nothing") {
    CollectorFixture collector;
    const std::string ingest_key = collector.create_key("my-cli");
    REQUIRE(post_batch(collector.port(), ingest_key, make_batch("my-cli", 3)).status == 200);
    const std::string token = make_token(collector, "my-cli");
    const std::string other = make_token(collector, "other");

    const auto allowed = get_query(collector, token, "tool=my-cli");
    REQUIRE(allowed.status == 200);
    CHECK(rows_of(allowed.body).at("|") == 3);
    CHECK(field_of(allowed.body, "source") == "rollups");
    CHECK(get_query(collector, other, "tool=my-cli").status == 403);
    CHECK(get_query(collector, ingest_key, "tool=my-cli").status == 401);
    CHECK(http_request(collector.port(), http::verb::get, "/v1/query?tool=my-cli", {}, {}).status == 401);
    CHECK(get_query(collector, token, "tool=my-cli&tz=Mars/Olympus").status == 400);
    CHECK(get_query(collector, token, "tool=my-cli&from=2026-11-10&to=2026-11-01").status == 400);
    REQUIRE(collector.run_command({"tokens", "revoke", token}).exit_code == 0);
    CHECK(get_query(collector, token, "tool=my-cli").status == 401);
}

TEST_CASE("every rollup answer equals the raw events' answer (durations within 4.43%)") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    post_all(collector, key, random_events("my-cli", 3000, 23), 250);
    const std::string token = make_token(collector, "my-cli");
    const std::string range = "&from=" + collector.query(
                                             "SELECT to_char(now() AT TIME ZONE 'UTC' - interval '4 days',"
                                             " 'YYYY-MM-DD')");
    // From the Monday two weeks back to next Monday; from the first of this month to the first of next.
    const std::string weeks = collector.query(
        "SELECT '&from=' || to_char(date_trunc('week', now() AT TIME ZONE 'UTC') - interval '14 days', 'YYYY-MM-DD')"
        " || '&to=' || to_char(date_trunc('week', now() AT TIME ZONE 'UTC') + interval '7 days', 'YYYY-MM-DD')");
    const std::string months = collector.query(  // at most 31 days: the raw answer's limit
        "SELECT '&from=' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        " || '&to=' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', 'YYYY-MM-DD')");
    const std::vector<std::string> questions = {
        "metric=events",
        "metric=events&by=name&interval=hour",
        "metric=events&by=os_version&interval=day&tz=America%2FNew_York",
        "metric=events&by=success&filter=os:linux&filter=arch:arm64",
        "metric=events&by=ci&interval=week&compare=previous",
        "metric=success_rate&by=tool_version&interval=day",
        "metric=success_rate&by=kind",
        "metric=installs&interval=day",
        "metric=installs",
        "metric=new_installs&interval=day",
        "metric=duration_p50&by=name",
        "metric=duration_p95&by=name&interval=day",
        "metric=duration_p99&filter=name:build",
        // whole UTC days: the daily rollups of migration 005
        "metric=events&by=name&filter=kind:1&filter=success:false&interval=week",
        "metric=success_rate&by=os&filter=ci:false&compare=previous",
        "metric=duration_p95&interval=day&tz=Etc%2FUTC",
        "metric=duration_p50&compare=previous",
        // migration 008: durations by name and exit codes per UTC day, installs per week and month
        "metric=duration_p95&by=name&interval=week",
        "metric=duration_p50&filter=name:build&filter=name:test&compare=previous",
        "metric=duration_p95&by=name&tz=America%2FNew_York",
        "metric=events&by=exit_code&filter=success:false",
        "metric=success_rate&by=exit_code&filter=kind:1&interval=day",
        "metric=installs&interval=week&compare=previous",
        "metric=installs&interval=month",
        // whole ISO weeks and whole months: answered from the per-period counts and the
        // weekly and monthly install rows (the ranges replace the 4 days above)
        "metric=installs&interval=week" + weeks,
        "metric=installs" + weeks,
        "metric=installs&interval=month&compare=previous" + months,
        "metric=installs" + months,
        "metric=installs&interval=day" + months,
        // migration 009: whole weeks and months of the count tiers and the duration histograms
        "metric=events&by=name&filter=kind:1" + weeks,
        "metric=success_rate&by=os&interval=week&compare=previous" + weeks,
        "metric=duration_p95&by=name" + weeks,
        "metric=duration_p50&interval=week" + weeks,
        "metric=events&by=tool_version&interval=month&compare=previous" + months,
        "metric=duration_p95&by=name&interval=month&compare=previous" + months,
        "metric=duration_p99&filter=name:build" + months,
        // zones at UTC+0 over the range (Europe/London in winter; these events are from the last 72 hours)
        "metric=events&by=name&interval=day&tz=Europe%2FLondon",
        "metric=duration_p95&by=name&tz=Africa%2FAbidjan&compare=previous",
    };
    for (const auto& question : questions) {
        INFO(question);
        const std::string asked = question.find("&from=") == std::string::npos ? question + range : question;
        const auto rollups = get_query(collector, token, "tool=my-cli&" + asked);
        const auto events = get_query(collector, token, "tool=my-cli&" + asked + "&source=events");
        REQUIRE(rollups.status == 200);
        REQUIRE(events.status == 200);
        CHECK(field_of(rollups.body, "source") == "rollups");
        CHECK(field_of(events.body, "source") == "events");
        const auto expected = rows_of(events.body);
        const auto answered = rows_of(rollups.body);
        REQUIRE(answered.size() == expected.size());
        REQUIRE_FALSE(answered.empty());
        const bool duration = question.find("duration") != std::string::npos;
        for (const auto& [bucket, value] : expected) {
            INFO(bucket);
            REQUIRE(answered.count(bucket));
            if (std::isnan(value)) {
                CHECK(std::isnan(answered.at(bucket)));
            } else if (duration) {
                CHECK(std::abs(answered.at(bucket) - value) <= 0.0443 * value + 1e-9);
            } else {
                CHECK(answered.at(bucket) == Approx(value).epsilon(1e-12));
            }
        }
        if (question.find("compare=previous") != std::string::npos) {
            const auto previous = rows_of(rollups.body, "previous");
            const auto expected_previous = rows_of(events.body, "previous");
            REQUIRE(previous.size() == expected_previous.size());
            for (const auto& [bucket, value] : expected_previous) {
                INFO("previous " << bucket);
                REQUIRE(previous.count(bucket));
                if (duration && !std::isnan(value)) {
                    CHECK(std::abs(previous.at(bucket) - value) <= 0.0443 * value + 1e-9);
                } else if (!std::isnan(value)) {
                    CHECK(previous.at(bucket) == Approx(value).epsilon(1e-12));
                }
            }
        }
    }
    // An attribute breakdown comes from the raw events, and says so.
    const auto by_attribute = get_query(collector, token, "tool=my-cli&by=attribute:cache" + range);
    REQUIRE(by_attribute.status == 200);
    CHECK(field_of(by_attribute.body, "source") == "events");
    CHECK(rows_of(by_attribute.body).at("|hit") == 3000);
}
