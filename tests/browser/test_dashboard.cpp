// The dashboard in a real browser (docs/dashboard.md): PostgreSQL and tk-collector as in every
// collector test, known events through the real ingest path, read tokens; then headless Chromium,
// driven by dashboard.mjs (puppeteer-core), checks the page against the answers computed here
// from SQL and /v1/query. Label `browser`.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <array>
#include <fstream>
#include <iostream>
#include <random>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

#include "browser/dashboard_events.hpp"
#include "collector/random_events.hpp"
#include "support/collector_fixture.hpp"

namespace tk::test {
namespace {

std::string make_token(const CollectorFixture& collector, std::vector<std::string> tools) {
    std::vector<std::string> args{"tokens", "create"};
    for (auto& tool : tools) args.insert(args.end(), {"--tool", tool});
    const auto made = collector.run_command(args);
    REQUIRE(made.exit_code == 0);
    return made.out.substr(0, made.out.size() - 1);
}

/// The value of a /v1/query answer without interval or by ("rows":[{"value":V}]).
std::string single_value(const CollectorFixture& collector, const std::string& token, const std::string& query) {
    const auto response = http_request(collector.port(), http::verb::get, "/v1/query?" + query, {},
                                       {{"Authorization", "Bearer " + token}});
    REQUIRE(response.status == 200);
    const auto at = response.body.find("\"value\":");
    REQUIRE(at != std::string::npos);
    return response.body.substr(at + 8, response.body.find('}', at) - at - 8);
}

/// "a|1\nb|2" (psql's unaligned rows) as a JSON object {"a":1,"b":2}.
std::string json_object(const std::string& rows) {
    std::istringstream lines(rows);
    std::string line;
    std::string json = "{";
    while (std::getline(lines, line)) {
        const auto bar = line.find('|');
        json += fmt::format("{}\"{}\":{}", json.size() > 1 ? "," : "", line.substr(0, bar), line.substr(bar + 1));
    }
    return json + "}";
}

}  // namespace

static HttpResponse get(const CollectorFixture& collector, const std::string& target,
                        std::map<std::string, std::string> headers = {}) {
    return http_request(collector.port(), http::verb::get, target, {}, headers);
}

/// A /v1/cohorts answer as "cohort|period|active" lines, periods without anyone left out.
static std::string cohort_lines(const std::string& body) {
    google::protobuf::Struct answer;
    REQUIRE(google::protobuf::util::JsonStringToMessage(body, &answer).ok());
    std::string lines;
    for (const auto& cohort : answer.fields().at("cohorts").list_value().values()) {
        const auto& fields = cohort.struct_value().fields();
        const auto& active = fields.at("active").list_value().values();
        for (int i = 0; i < active.size(); ++i) {
            const auto count = static_cast<long long>(active[i].number_value());
            if (count > 0)
                lines +=
                    fmt::format("{}{}|{}|{}", lines.empty() ? "" : "\n", fields.at("cohort").string_value(), i, count);
        }
    }
    return lines;
}

TEST_CASE("dashboard: the page's files, GET /v1/tools and GET /v1/cohorts at the real collector") {
    CollectorFixture collector;
    const std::string key = collector.create_key("demo-cli");
    post_all(collector, key, random_events("demo-cli", 600, 21), 300);
    const std::string token = make_token(collector, {"demo-cli"});
    const std::string multi = make_token(collector, {"other-tool", "demo-cli"});

    {  // the page: gzip when accepted, ETag and 304, CSP, types
        const auto page = get(collector, "/", {{"Accept-Encoding", "gzip"}});
        REQUIRE(page.status == 200);
        CHECK(page.header("content-type") == "text/html; charset=utf-8");
        CHECK(page.header("content-encoding") == "gzip");
        CHECK(page.header("content-security-policy").rfind("default-src 'self'", 0) == 0);
        CHECK(page.header("cache-control") == "no-cache");
        const auto again = get(collector, "/", {{"If-None-Match", page.header("etag")}});
        CHECK(again.status == 304);
        CHECK(again.body.empty());
        const auto plain = get(collector, "/");  // the page names its files with their versions
        const auto versioned = plain.body.find("/app.js?v=");
        REQUIRE(versioned != std::string::npos);
        const auto kept = get(collector, plain.body.substr(versioned, 18));
        CHECK(kept.status == 200);
        CHECK(kept.header("cache-control") == "public, max-age=31536000, immutable");
        const auto script = get(collector, "/app.js");
        CHECK(script.header("cache-control") == "no-cache");
        CHECK(script.status == 200);
        CHECK(script.header("content-type") == "text/javascript; charset=utf-8");
        CHECK(script.header("content-encoding").empty());
        CHECK(script.body.find("uplot") != std::string::npos);  // the chart library is bundled in
        CHECK(get(collector, "/app.jsx").status == 404);
        CHECK(http_request(collector.port(), http::verb::post, "/", "x").status == 405);
    }
    {  // tools: the token's tools, 401 for anything that is not a valid read token
        const auto tools = get(collector, "/v1/tools", {{"Authorization", "Bearer " + multi}});
        REQUIRE(tools.status == 200);
        CHECK(tools.body == "{\"tools\":[\"demo-cli\",\"other-tool\"]}\n");
        CHECK(get(collector, "/v1/tools").status == 401);
        CHECK(get(collector, "/v1/tools", {{"Authorization", "Bearer " + key}}).status == 401);
        REQUIRE(collector.run_command({"tokens", "revoke", multi}).exit_code == 0);
        CHECK(get(collector, "/v1/tools", {{"Authorization", "Bearer " + multi}}).status == 401);
    }
    {  // cohorts: equal to the same grid computed from the raw events
        const std::string from = collector.query("SELECT (now() AT TIME ZONE 'UTC')::date - 6");
        const std::string to = collector.query("SELECT (now() AT TIME ZONE 'UTC')::date + 1");
        const auto answer =
            get(collector, fmt::format("/v1/cohorts?tool=demo-cli&interval=day&from={}&to={}", from, to),
                {{"Authorization", "Bearer " + token}});
        REQUIRE(answer.status == 200);
        const std::string expected = collector.query(
            "WITH d AS (SELECT DISTINCT anonymous_id, (id_time AT TIME ZONE 'UTC')::date AS day FROM events"
            "           WHERE tool = 'demo-cli'),"
            " f AS (SELECT anonymous_id, min(day) AS first_day FROM d GROUP BY 1)"
            " SELECT to_char(f.first_day, 'YYYY-MM-DD') || '|' || (d.day - f.first_day) || '|' || count(*)"
            " FROM d JOIN f USING (anonymous_id) GROUP BY f.first_day, d.day ORDER BY f.first_day, d.day");
        CHECK(cohort_lines(answer.body) == expected);
        // Weeks and months (migration 008's weekly and monthly install rows, the daily rows for a
        // period cut short by `to`): up to tomorrow, and up to the start of this week or month.
        for (const char* interval : {"week", "month"}) {
            for (const char* end :
                 {"(now() AT TIME ZONE 'UTC')::date + 1", "date_trunc('{}', now() AT TIME ZONE 'UTC')::date"}) {
                const std::string until = collector.query("SELECT " + fmt::format(fmt::runtime(end), interval));
                INFO(interval << " until " << until);
                const auto grid = get(
                    collector,
                    fmt::format("/v1/cohorts?tool=demo-cli&interval={}&from={}&to={}", interval, "2020-01-01", until),
                    {{"Authorization", "Bearer " + token}});
                REQUIRE(grid.status == 200);
                const std::string period = std::string(interval) == "week"
                                               ? "(date_trunc('week', d.day)::date - f.cohort) / 7"
                                               : "((extract(year FROM d.day) - extract(year FROM f.cohort)) * 12"
                                                 " + extract(month FROM d.day) - extract(month FROM f.cohort))::int";
                const std::string raw = collector.query(fmt::format(
                    "WITH d AS (SELECT DISTINCT anonymous_id, (id_time AT TIME ZONE 'UTC')::date AS day FROM events"
                    "           WHERE tool = 'demo-cli'),"
                    " f AS (SELECT anonymous_id, min(day) AS first_day, date_trunc('{0}', min(day))::date AS cohort"
                    "       FROM d GROUP BY 1)"
                    " SELECT string_agg(line, E'\\n' ORDER BY cohort, period) FROM (SELECT f.cohort, {1} AS period,"
                    "  to_char(f.cohort, 'YYYY-MM-DD') || '|' || {1} || '|' || count(DISTINCT d.anonymous_id) AS line"
                    "  FROM d JOIN f USING (anonymous_id) WHERE f.first_day < '{2}' AND d.day < '{2}' GROUP BY 1, 2) g",
                    interval, period, until));
                CHECK(cohort_lines(grid.body) == raw);
            }
        }
        CHECK(get(collector, "/v1/cohorts?tool=other-tool", {{"Authorization", "Bearer " + token}}).status == 403);
        CHECK(
            get(collector, "/v1/cohorts?tool=demo-cli&interval=hour", {{"Authorization", "Bearer " + token}}).status ==
            400);
    }
}

TEST_CASE("dashboard: the page in Chromium shows what SQL and /v1/query say, filters, CSV, tokens") {
    CollectorFixture collector;
    post_all(collector, collector.create_key("demo-cli"), dashboard_events(4000, 120, 11), 400);
    post_all(collector, collector.create_key("other-tool"), random_events("other-tool", 60, 12), 60);
    const std::string token = make_token(collector, {"demo-cli"});
    const std::string multi = make_token(collector, {"demo-cli", "other-tool"});

    // The page's "Last 30 days" in UTC: [today - 29, tomorrow).
    const std::string from = collector.query("SELECT (now() AT TIME ZONE 'UTC')::date - 29");
    const std::string to = collector.query("SELECT (now() AT TIME ZONE 'UTC')::date + 1");
    const std::string in_range = fmt::format(
        "tool = 'demo-cli' AND id_time >= '{}'::timestamp AT TIME ZONE 'UTC' AND id_time < '{}'::timestamp AT TIME "
        "ZONE 'UTC'",
        from, to);
    const std::string range = fmt::format("tool=demo-cli&from={}&to={}&tz=UTC", from, to);

    // SQL, and /v1/query saying the same (the page shows /v1/query's answers).
    const std::string events = collector.query("SELECT count(*) FROM events WHERE " + in_range);
    CHECK(single_value(collector, token, range + "&metric=events") == events);
    const std::string installs = collector.query("SELECT count(DISTINCT anonymous_id) FROM events WHERE " + in_range);
    CHECK(single_value(collector, token, range + "&metric=installs") == installs);
    const std::string linux_events = collector.query("SELECT count(*) FROM events WHERE os = 'linux' AND " + in_range);
    CHECK(single_value(collector, token, range + "&metric=events&filter=os:linux") == linux_events);
    const std::string failed = collector.query("SELECT count(*) FROM events WHERE success = false AND " + in_range);
    const double success_rate = std::stod(collector.query(
        "SELECT (count(*) FILTER (WHERE success))::float8 / count(success) FROM events WHERE " + in_range));
    CHECK(std::stod(single_value(collector, token, range + "&metric=success_rate")) ==
          Approx(success_rate).epsilon(1e-12));
    const std::string commands = json_object(collector.query("SELECT name, count(*) FROM events WHERE kind = 1 AND " +
                                                             in_range + " GROUP BY name ORDER BY name"));
    const std::string linux_commands =
        json_object(collector.query("SELECT name, count(*) FROM events WHERE kind = 1 AND os = 'linux' AND " +
                                    in_range + " GROUP BY name ORDER BY name"));
    const std::string p95 = single_value(collector, token, range + "&metric=duration_p95");
    const double exact_p95 = std::stod(collector.query(
        "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_us) FROM events WHERE " + in_range));
    CHECK(std::stod(p95) == Approx(exact_p95).epsilon(0.0443));  // rollup buckets: within 4.43%

    TempDir work("tk-browser-");
    const auto expect = work / "expect.json";
    {
        std::ofstream out(expect);
        out << fmt::format(
            R"({{"url":"{}","token":"{}","multiToken":"{}","from":"{}","to":"{}","events":{},"installs":{},)"
            R"("linuxEvents":{},"failed":{},"successRate":{},"p95":{},"commands":{},"linuxCommands":{}}})",
            collector.base_url(), token, multi, from, to, events, installs, linux_events, failed, success_rate, p95,
            commands, linux_commands);
    }
    ProcessOptions node;
    node.argv = {TK_NODE_BINARY, TK_SOURCE_DIR "/tests/browser/dashboard.mjs"};
    node.env = hermetic_env(work.path());
    node.env["TK_EXPECT"] = expect.string();
    node.env["TK_WORK"] = work.path().string();
    node.env["TK_DASHBOARD_DIR"] = TK_SOURCE_DIR "/collector/dashboard";
    node.env["TK_SCREENSHOTS"] = TK_BINARY_DIR;
    const RunResult result = run(node, std::chrono::seconds(240));
    std::cout << result.out << std::flush;
    INFO("dashboard.mjs stderr:\n" << result.err << "\ncollector log:\n" << collector.log());
    REQUIRE(result.exit_code == 0);
}

}  // namespace tk::test
