// Retention cohorts: parse_cohorts() and cohorts_sql() are pure; answer_cohorts() resolves the
// default range in the database (UTC days, like installs in /v1/query) and writes the JSON.
#include "tk/collector/cohorts.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "tk/collector/database.hpp"
#include "tk/common/json.hpp"

namespace tk::collector {

namespace {

/// Whether a query string names only parameters a cohort question has.
bool only_cohort_parameters(std::string_view query_string) {
    while (!query_string.empty()) {
        const auto amp = query_string.find('&');
        const auto key = query_string.substr(0, std::min(amp, query_string.find('=')));
        if (!key.empty() && key != "tool" && key != "interval" && key != "from" && key != "to") return false;
        if (amp == std::string_view::npos) break;
        query_string.remove_prefix(amp + 1);
    }
    return true;
}

const char* interval_name(Interval interval) {
    return interval == Interval::day ? "day" : interval == Interval::month ? "month" : "week";
}

}  // namespace

std::variant<CohortParams, std::string> parse_cohorts(std::string_view query_string) {
    if (!only_cohort_parameters(query_string)) return std::string("cohorts take only tool, interval, from and to");
    // The same spelling and checks as /v1/query's parameters.
    auto parsed = parse_query(query_string);
    if (auto* error = std::get_if<std::string>(&parsed)) return std::move(*error);
    const auto& query = std::get<QueryParams>(parsed);
    CohortParams params{query.tool, query.interval, query.from, query.to};
    if (params.interval == Interval::none) params.interval = Interval::week;
    if (params.interval == Interval::hour) return std::string("interval: day, week or month");
    return params;
}

namespace {

/// SQL: the first day of the period of `interval` that holds the date `date` (date arithmetic and
/// a timestamp without time zone: no dependence on the session's TimeZone). A week's Monday in
/// whole days from Monday 1900-01-01: extract(isodow) goes through a timestamp and a numeric, and
/// ran on each of the 150k joined rows of a 13-month grid (bench_query: 75 of its 130 ms).
std::string period_start(Interval interval, const std::string& date) {
    if (interval == Interval::day) return date;
    if (interval == Interval::week) return "(" + date + " - (" + date + " - DATE '1900-01-01') % 7)";
    return "date_trunc('month', (" + date + ")::timestamp)::date";
}

}  // namespace

Sql cohorts_sql(const CohortParams& params, const std::string& from, const std::string& to) {
    // Who was active in which period (p: the period's first day), one row per install and period,
    // so the grid counts rows (a hash aggregate) instead of count(DISTINCT) (a sort): weeks and
    // months that end by `to` come from the weekly and monthly install rows of migration 008 (a
    // seventh or a thirtieth of the daily rows), a last period cut short by `to` from the daily
    // rows made distinct per period. Periods before the first cohort's are not read.
    std::string active =
        "SELECT anonymous_id, day AS p FROM rollup_installs_daily WHERE tool = $1 AND day >= $3::date AND day < "
        "$4::date";
    if (params.interval != Interval::day) {
        const bool weeks = params.interval == Interval::week;
        const std::string column = weeks ? "week" : "month";
        active = "SELECT anonymous_id, " + column + " AS p FROM rollup_installs_" + (weeks ? "weekly" : "monthly") +
                 " WHERE tool = $1 AND " + column + " >= " + period_start(params.interval, "$3::date") + " AND " +
                 column + (weeks ? " + 7" : " + interval '1 month'") +
                 " <= $4::date"
                 " UNION ALL SELECT DISTINCT anonymous_id, " +
                 period_start(params.interval, "day") +
                 " FROM rollup_installs_daily WHERE tool = $1 AND day >= " + period_start(params.interval, "$4::date") +
                 " AND day < $4::date";
    }
    // A period's index: days, ISO weeks or calendar months since the cohort's first day.
    const std::string period = params.interval == Interval::day ? "p - cohort"
                               : params.interval == Interval::month
                                   ? "((extract(year FROM p) - extract(year FROM cohort)) * 12"
                                     " + extract(month FROM p) - extract(month FROM cohort))::int"
                                   : "(p - cohort) / 7";
    return Sql{"WITH c AS (SELECT anonymous_id, " + period_start(params.interval, "first_day") +
                   " AS cohort FROM rollup_install_first_seen"
                   " WHERE tool = $1 AND first_day >= $3::date AND first_day < $4::date AND $2 <> ''), d AS (" +
                   active +
                   "), g AS (SELECT c.cohort, d.p, count(*) AS n FROM c JOIN d ON d.anonymous_id = c.anonymous_id"
                   " WHERE d.p >= c.cohort GROUP BY 1, 2)"
                   " SELECT to_char(cohort, 'YYYY-MM-DD'), " +
                   period + ", n FROM g ORDER BY 1, 2",
               {params.tool, interval_name(params.interval), from, to}};
}

QueryResult answer_cohorts(Connection& conn, const CohortParams& params) {
    const Result range = conn.exec(
        "WITH r AS (SELECT coalesce(NULLIF($1, '')::timestamp::date, (now() AT TIME ZONE 'UTC')::date + 1) AS t)"
        " SELECT to_char(coalesce(NULLIF($2, '')::timestamp::date, t - 56), 'YYYY-MM-DD'), to_char(t, 'YYYY-MM-DD') "
        "FROM r",
        {params.to, params.from});
    const std::string from(range.value(0, 0));
    const std::string to(range.value(0, 1));
    if (from >= to) return {400, "from: must be before to\n"};
    const Sql sql = cohorts_sql(params, from, to);
    const Result rows = conn.exec(sql.text, sql.params);

    // Periods where nobody of a cohort was active have no row: they stay 0.
    std::vector<std::pair<std::string, std::vector<long long>>> cohorts;
    for (int row = 0; row < rows.rows(); ++row) {
        const std::string_view first_day = rows.value(row, 0);
        if (cohorts.empty() || cohorts.back().first != first_day)
            cohorts.emplace_back(std::string(first_day), std::vector<long long>{});
        auto& active = cohorts.back().second;
        const auto index = static_cast<std::size_t>(std::stoi(std::string(rows.value(row, 1))));
        if (active.size() <= index) active.resize(index + 1, 0);
        active[index] = std::stoll(std::string(rows.value(row, 2)));
    }
    std::string json = "{\"tool\":";
    tk::json::append_string(json, params.tool);
    json += fmt::format(",\"interval\":\"{}\",\"from\":\"{}\",\"to\":\"{}\",\"cohorts\":[",
                        interval_name(params.interval), from, to);
    for (std::size_t i = 0; i < cohorts.size(); ++i) {
        const auto& [first_day, active] = cohorts[i];
        json += fmt::format("{}{{\"cohort\":\"{}\",\"installs\":{},\"active\":[{}]}}", i ? "," : "", first_day,
                            active.empty() ? 0 : active[0], fmt::join(active, ","));
    }
    json += "]}\n";
    return {200, std::move(json)};
}

}  // namespace tk::collector
