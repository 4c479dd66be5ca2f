#pragma once
/// The query API (GET /v1/query, docs/query.md): parameters parsed and checked by pure functions,
/// each answer built as one SQL statement over the rollups (migration 004) or, where the rollups
/// cannot answer, over the raw events of a bounded window.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace tk::collector {

class Connection;

enum class Metric { events, installs, new_installs, success_rate, duration_p50, duration_p95, duration_p99 };
enum class Interval { none, hour, day, week, month };
enum class Source { automatic, rollups, events };

struct QueryParams {
    std::string tool;
    Metric metric = Metric::events;
    std::string by;  ///< a dimension (name, os, ..., attribute:<key>), or "" for none
    Interval interval = Interval::none;
    std::string from;  ///< "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]", local time in `tz`
    std::string to;    ///< exclusive; as `from`
    std::string tz = "UTC";
    std::vector<std::pair<std::string, std::string>> filters;  ///< dimension, value (same dimension: any of)
    bool compare_previous = false;
    Source source = Source::automatic;  ///< `source=events` asks for the raw answer (to check a rollup's)
};

/// Parses a query string (without '?'). Returns the 400 answer's text on any bad parameter.
/// Without from/to the range is the 30 days up to and including today (in `tz`).
std::variant<QueryParams, std::string> parse_query(std::string_view query_string);

/// Whether the rollups can answer `params` (else the raw events of at most kMaxRawDays days do).
bool rollups_answer(const QueryParams& params);
inline constexpr int kMaxRawDays = 31;

/// Migration 008: which install table a piece of a day range is counted over.
enum class InstallTable { daily, weekly, monthly };
/// The rows of `table` whose period starts in [begin, end) (days since 1970-01-01).
struct InstallPiece {
    InstallTable table;
    std::int64_t begin;
    std::int64_t end;
    bool operator==(const InstallPiece& other) const {
        return table == other.table && begin == other.begin && end == other.end;
    }
};
/// The install-table rows whose union is every install active in the UTC days [begin, end), in
/// the fewest rows: whole calendar months, then whole ISO weeks in what is left, then days. Pure.
std::vector<InstallPiece> install_cover(std::int64_t begin, std::int64_t end);
/// Migration 009: the same cover for the count rollups' daily, weekly and monthly tiers, bucket by
/// bucket of `interval` (the whole range for none): no piece crosses a bucket's edge, so a row's
/// period start gives its bucket. Contiguous pieces of one table are merged. Pure.
std::vector<InstallPiece> period_cover(Interval interval, std::int64_t begin, std::int64_t end);

/// One row of an answer: the time bucket ("" without interval), the dimension's value ("" without
/// `by`) and the metric's value (null: no data to compute it from, e.g. a rate of nothing).
struct AnswerRow {
    std::string bucket;
    std::string group;
    std::optional<double> value;
};

/// A statement and its parameters ($1...).
struct Sql {
    std::string text;
    std::vector<std::string> params;
};

/// The statement answering `params` over [from, to) (local times in params.tz), from the rollups
/// or the raw events. Pure. Its rows are (bucket text, group text, value double), except for
/// duration percentiles over the rollups: (bucket, group, duration bucket, count), which
/// rows_from_buckets() turns into answers.
Sql build_sql(const QueryParams& params, bool from_rollups, const std::string& from, const std::string& to);

/// The percentile `p` (0..1) of each (bucket, group) from its duration buckets' counts.
std::vector<AnswerRow> percentiles_from_buckets(
    const std::vector<std::tuple<std::string, std::string, int, long long>>& counts, double p);

/// The (bucket, count) pairs of a duration histogram of migration 009 in PostgreSQL's text form
/// ("[3:5]={1,NULL,2}", or "{...}" when the lower bound is 1); NULL elements are left out. Pure.
std::vector<std::pair<int, long long>> parse_histogram(std::string_view text);

/// An answer: 200 with JSON, or 400 with the reason.
struct QueryResult {
    int status = 200;
    std::string body;
};

/// Runs the query (and its previous period when asked) and returns the JSON answer. What only the
/// database can check (a time zone it does not know, a range that ends before it starts) comes
/// back as a 400. Throws DatabaseError.
QueryResult answer_query(Connection& conn, const QueryParams& params);

}  // namespace tk::collector
