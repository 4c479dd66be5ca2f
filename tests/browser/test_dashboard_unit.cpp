// The dashboard's pure parts on the collector side: which file a path names, gzip negotiation,
// ETags, and the parameters and statement of GET /v1/cohorts.
#include <catch2/catch.hpp>

#include "tk/collector/cohorts.hpp"
#include "tk/collector/dashboard.hpp"

namespace tk::collector {
namespace {

TEST_CASE("dashboard: the page's files are built in, each with a type, gzip bytes and an ETag") {
    const StaticAsset* page = find_asset("/");
    REQUIRE(page != nullptr);
    CHECK(find_asset("/index.html") == page);
    CHECK(page->content_type == "text/html; charset=utf-8");
    CHECK(page->body.find("/app.js") != std::string_view::npos);
    for (const char* path : {"/app.js", "/app.css", "/favicon.svg"}) {
        const StaticAsset* asset = find_asset(path);
        REQUIRE(asset != nullptr);
        CHECK(asset->gzip.substr(0, 2) == "\x1f\x8b");
        CHECK(asset->etag.front() == '"');
    }
    CHECK(find_asset("/etc/passwd") == nullptr);
    CHECK(find_asset("/app.js/") == nullptr);
}

TEST_CASE("dashboard: gzip only when the client accepts it, ETags as If-None-Match lists them") {
    CHECK(accepts_gzip("gzip, deflate, br"));
    CHECK(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CHECK(accepts_gzip("*"));
    CHECK_FALSE(accepts_gzip(""));
    CHECK_FALSE(accepts_gzip("br, deflate"));
    CHECK_FALSE(accepts_gzip("gzip;q=0"));
    CHECK_FALSE(accepts_gzip("gzip;q=0.000, br"));
    CHECK(etag_matches("\"abc\"", "\"abc\""));
    CHECK(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
    CHECK(etag_matches("*", "\"abc\""));
    CHECK_FALSE(etag_matches("\"abd\"", "\"abc\""));
    CHECK_FALSE(etag_matches("", "\"abc\""));
}

TEST_CASE("cohorts: parameters as /v1/query spells them, and nothing else") {
    const auto parsed = parse_cohorts("tool=my-cli&interval=month&from=2026-10-01&to=2026-12-01");
    REQUIRE(std::holds_alternative<CohortParams>(parsed));
    const auto& params = std::get<CohortParams>(parsed);
    CHECK(params.tool == "my-cli");
    CHECK(params.interval == Interval::month);
    CHECK(params.from == "2026-10-01");
    CHECK(std::get<CohortParams>(parse_cohorts("tool=t")).interval == Interval::week);
    CHECK(std::get<std::string>(parse_cohorts("tool=t&interval=hour")) == "interval: day, week or month");
    CHECK(std::get<std::string>(parse_cohorts("tool=t&metric=events")) ==
          "cohorts take only tool, interval, from and to");
    CHECK(std::get<std::string>(parse_cohorts("interval=week")) == "tool: required");
    CHECK(std::get<std::string>(parse_cohorts("tool=t&from=yesterday")).rfind("from:", 0) == 0);

    const Sql sql = cohorts_sql(params, "2026-10-01", "2026-12-01");
    CHECK(sql.params == std::vector<std::string>{"my-cli", "month", "2026-10-01", "2026-12-01"});
    CHECK(sql.text.find("rollup_install_first_seen") != std::string::npos);
    CHECK(sql.text.find("FROM events") == std::string::npos);  // never the raw events
}

}  // namespace
}  // namespace tk::collector
