#pragma once
/// Retention cohorts (GET /v1/cohorts, docs/dashboard.md): installs grouped by the day, week or
/// month they were first seen, and how many of each group were active in each later period.
/// Answered from rollup_install_first_seen and rollup_installs_daily (UTC days), so it costs
/// no scan of the raw events.

#include <string>
#include <string_view>
#include <variant>

#include "tk/collector/query.hpp"

namespace tk::collector {

struct CohortParams {
    std::string tool;
    Interval interval = Interval::week;  ///< day, week or month
    std::string from;                    ///< first days of the cohorts: [from, to); "" = 8 weeks before `to`
    std::string to;                      ///< "" = tomorrow (UTC)
};

/// Parses tool, interval, from and to (as /v1/query spells them; nothing else). Pure.
std::variant<CohortParams, std::string> parse_cohorts(std::string_view query_string);

/// The statement: rows of (cohort's first day, period index from 0, active installs), ordered.
/// $1 tool, $2 interval name, $3 from (date), $4 to (date). Pure.
Sql cohorts_sql(const CohortParams& params, const std::string& from, const std::string& to);

/// The JSON answer: {"tool","interval","from","to","cohorts":[{"cohort":"YYYY-MM-DD",
/// "installs":N,"active":[N,n1,n2...]}]} (active[0] is the cohort's size). Throws DatabaseError.
QueryResult answer_cohorts(Connection& conn, const CohortParams& params);

}  // namespace tk::collector
