// The query API. parse_query() and build_sql() are pure; answer_query() resolves the range in the
// database (time zones are PostgreSQL's), runs one statement per period and writes the JSON.
//
// Which table answers: events, success_rate broken down or filtered by the hourly rollup's
// dimensions come from rollup_hourly — or, when the range and buckets are whole UTC days, from
// the smaller daily rollups of migration 005 that keep the dimensions asked for (measured: 20-40
// times fewer rows); duration percentiles by name from rollup_duration (overall: daily, likewise); installs
// from rollup_installs_daily and new installs from rollup_install_first_seen (both in UTC days).
// Anything else (attribute:<key>, exit_code, installs by a dimension) comes from the raw events
// of at most kMaxRawDays days, and the answer says so.
#include "tk/collector/query.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "tk/collector/database.hpp"
#include "tk/collector/percent_decode.hpp"
#include "tk/common/calendar.hpp"
#include "tk/common/json.hpp"

namespace tk::collector {

namespace {

const std::map<std::string_view, Metric> kMetrics = {
    {"events", Metric::events},
    {"installs", Metric::installs},
    {"new_installs", Metric::new_installs},
    {"success_rate", Metric::success_rate},
    {"duration_p50", Metric::duration_p50},
    {"duration_p95", Metric::duration_p95},
    {"duration_p99", Metric::duration_p99},
};
const std::map<std::string_view, Interval> kIntervals = {
    {"none", Interval::none}, {"hour", Interval::hour},   {"day", Interval::day},
    {"week", Interval::week}, {"month", Interval::month},
};
// Dimensions of rollup_hourly, as text: the same text as the raw events' column gives.
const std::map<std::string_view, std::string_view> kHourlyDimensions = {
    {"name", "name"},   {"tool_version", "tool_version"},
    {"os", "os"},       {"os_version", "os_version"},
    {"arch", "arch"},   {"kind", "kind::text"},
    {"ci", "ci::text"}, {"success", "CASE success WHEN 1 THEN 'true' WHEN 0 THEN 'false' ELSE '' END"},
};
const std::map<std::string_view, std::string_view> kEventDimensions = {
    {"name", "name"},
    {"tool_version", "tool_version"},
    {"os", "os"},
    {"os_version", "os_version"},
    {"arch", "arch"},
    {"kind", "kind::text"},
    {"ci", "ci::text"},
    {"success", "coalesce(success::text, '')"},
    {"exit_code", "coalesce(exit_code::text, '')"},
};
constexpr std::string_view kAttributePrefix = "attribute:";

bool token_chars(std::string_view text, std::string_view extra) {
    return std::all_of(text.begin(), text.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
    });
}

bool valid_dimension(std::string_view dimension) {
    if (dimension.substr(0, kAttributePrefix.size()) == kAttributePrefix) {
        const auto key = dimension.substr(kAttributePrefix.size());
        return !key.empty() && key.size() <= 64 && token_chars(key, "._-");
    }
    return kEventDimensions.count(dimension) > 0;
}

/// "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (digits checked; the database checks the rest).
bool valid_time(std::string_view text) {
    static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
    if (text.size() != 10 && text.size() != 16 && text.size() != 19) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == kShape[i];
        if (!ok) return false;
    }
    return true;
}

/// Applies one decoded parameter; returns the error text, or "" when fine.
std::string apply(QueryParams& params, const std::string& key, const std::string& value) {
    if (key == "tool") {
        if (value.empty() || value.size() > 128 || !token_chars(value, "._-")) return "tool: not a tool name";
        params.tool = value;
    } else if (key == "metric") {
        const auto found = kMetrics.find(value);
        if (found == kMetrics.end()) {
            return "metric: one of events, installs, new_installs, success_rate, duration_p50, duration_p95, "
                   "duration_p99";
        }
        params.metric = found->second;
    } else if (key == "by") {
        if (!valid_dimension(value)) {
            return "by: one of name, kind, tool_version, os, os_version, arch, ci, success, exit_code, attribute:<key>";
        }
        params.by = value;
    } else if (key == "interval") {
        const auto found = kIntervals.find(value);
        if (found == kIntervals.end()) return "interval: one of hour, day, week, month, none";
        params.interval = found->second;
    } else if (key == "from" || key == "to") {
        if (!valid_time(value)) return key + ": YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (local time in tz)";
        (key == "from" ? params.from : params.to) = value;
    } else if (key == "tz") {
        if (value.empty() || value.size() > 64 || !token_chars(value, "_/+-")) return "tz: an IANA time zone name";
        params.tz = value;
    } else if (key == "filter") {
        const auto colon = value.find(':', value.rfind(kAttributePrefix, 0) == 0 ? kAttributePrefix.size() : 0);
        if (colon == std::string::npos || !valid_dimension(value.substr(0, colon))) {
            return "filter: <dimension>:<value>, e.g. os:linux or attribute:cache:hit";
        }
        if (params.filters.size() >= 32) return "filter: at most 32";
        params.filters.emplace_back(value.substr(0, colon), value.substr(colon + 1));
    } else if (key == "compare") {
        if (value != "previous") return "compare: only previous";
        params.compare_previous = true;
    } else if (key == "source") {
        if (value != "rollups" && value != "events") return "source: rollups or events";
        params.source = value == "events" ? Source::events : Source::rollups;
    } else {
        return "unknown parameter " + key;
    }
    return {};
}

bool only_dimensions(const QueryParams& params, const std::map<std::string_view, std::string_view>& allowed) {
    if (!params.by.empty() && !allowed.count(params.by)) return false;
    return std::all_of(params.filters.begin(), params.filters.end(),
                       [&](const auto& filter) { return allowed.count(filter.first) > 0; });
}

bool is_duration(Metric metric) {
    return metric == Metric::duration_p50 || metric == Metric::duration_p95 || metric == Metric::duration_p99;
}

double percentile_of(Metric metric) {
    return metric == Metric::duration_p50 ? 0.5 : metric == Metric::duration_p95 ? 0.95 : 0.99;
}

const char* interval_name(Interval interval) {
    switch (interval) {
        case Interval::hour: return "hour";
        case Interval::day: return "day";
        case Interval::week: return "week";
        case Interval::month: return "month";
        default: return "none";
    }
}

/// The SQL text of a dimension over the events table, or over a rollup (rollup_hourly's columns;
/// exit_code only in rollup_daily_exit_codes, where it is already the text the events give).
std::string dimension_sql(const std::string& dimension, bool hourly, std::vector<std::string>& params) {
    if (dimension.rfind(kAttributePrefix, 0) == 0) {
        params.push_back(dimension.substr(kAttributePrefix.size()));
        return fmt::format("coalesce(attributes->>${}, '')", params.size());
    }
    if (hourly && dimension == "exit_code") return "exit_code";
    return std::string(hourly ? kHourlyDimensions.at(dimension) : kEventDimensions.at(dimension));
}

/// "AND (dim) IN ($a, $b) ..." for the filters, grouped by dimension.
std::string filters_sql(const QueryParams& params, bool hourly, std::vector<std::string>& sql_params) {
    std::map<std::string, std::vector<std::string>> by_dimension;
    for (const auto& [dimension, value] : params.filters) by_dimension[dimension].push_back(value);
    std::string sql;
    for (const auto& [dimension, values] : by_dimension) {
        sql += " AND " + dimension_sql(dimension, hourly, sql_params) + " IN (";
        for (std::size_t i = 0; i < values.size(); ++i) {
            sql_params.push_back(values[i]);
            sql += fmt::format("{}${}", i ? ", " : "", sql_params.size());
        }
        sql += ")";
    }
    return sql;
}

/// The start of the time bucket of `column` (a timestamptz, or a UTC date when `utc_days`) as a
/// local timestamp; '' without an interval.
std::string bucket_start_sql(Interval interval, const std::string& column, bool utc_days) {
    if (interval == Interval::none) return "''";
    const std::string local = utc_days ? column + "::timestamp" : "(" + column + " AT TIME ZONE $3)";
    return fmt::format("date_trunc('{}', {})", interval_name(interval), local);
}

/// A bucket start (bucket_start_sql()) as the answer's text.
std::string bucket_text_sql(Interval interval, const std::string& start) {
    if (interval == Interval::none) return start;
    return "to_char(" + start + ", 'YYYY-MM-DD\"T\"HH24:MI:SS')";
}

/// The time bucket of `column` as local text.
std::string bucket_sql(Interval interval, const std::string& column, bool utc_days) {
    return bucket_text_sql(interval, bucket_start_sql(interval, column, utc_days));
}

/// "SELECT bucket text, columns..." of a statement grouped by its first column, the bucket:
/// grouped by the bucket's timestamp and formatted per answer row, not per row read (bench_query:
/// to_char over 68k weekly rollup rows and a sort by its text were half of a 13-month trend's
/// 170 ms). The text sorts as the timestamp, so "ORDER BY 1, ..." orders as before.
/// `rest`: "FROM ... WHERE ... GROUP BY 1, ... [HAVING ...]"; `order`: "1, 2".
std::string grouped_by_bucket(Interval interval, const std::string& column, bool utc_days,
                              const std::vector<std::string>& columns, const std::string& rest,
                              const std::string& order) {
    std::string inner = "SELECT " + bucket_start_sql(interval, column, utc_days) + " AS b";
    std::string outer = "SELECT " + bucket_text_sql(interval, "b");
    for (std::size_t i = 0; i < columns.size(); ++i) {
        inner += fmt::format(", {} AS c{}", columns[i], i);
        outer += fmt::format(", c{}", i);
    }
    return outer + " FROM (" + inner + " " + rest + ") q ORDER BY " + order;
}

/// Zones that are UTC+0 all year round: their days are UTC days.
bool utc_zone(const std::string& tz) {
    static const std::set<std::string_view> kZones = {
        "UTC",   "Etc/UTC",   "UCT",   "Etc/UCT",   "Universal", "Etc/Universal",
        "Zulu",  "Etc/Zulu",  "GMT",   "Etc/GMT",   "GMT0",      "Etc/GMT0",
        "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
    };
    return kZones.count(tz) > 0;
}

/// "YYYY-MM-DDT00:00:00": a local time at the start of a day.
bool start_of_day(const std::string& time) { return time.size() == 19 && time.compare(10, 9, "T00:00:00") == 0; }

/// A `from`/`to` parameter that names a midnight (or is left to its default, which is one).
bool midnight_parameter(const std::string& time) {
    return time.empty() || time.size() == 10 || time.compare(10, std::string::npos, "T00:00") == 0 ||
           time.compare(10, std::string::npos, "T00:00:00") == 0;
}

/// Whether the question is about whole UTC days (before its range is resolved): what the daily
/// rollups need.
bool whole_utc_days(const QueryParams& params) {
    return utc_zone(params.tz) && params.interval != Interval::hour && midnight_parameter(params.from) &&
           midnight_parameter(params.to);
}

// The dimensions each daily rollup keeps (the values are unused).
const std::map<std::string_view, std::string_view> kNameDimensions = {{"name", ""}};
const std::map<std::string_view, std::string_view> kExitDimensions = {{"kind", ""}, {"success", ""}, {"exit_code", ""}};

/// A daily rollup (migrations 005, 008) and its weekly and monthly tiers (migration 009): every
/// tier has the daily table's columns, with `week` or `month` (the period's first day) for `day`.
struct DailyFamily {
    const char* tier;     ///< rollup_{daily,weekly,monthly}_<tier>; nullptr: daily only
    const char* daily;    ///< the daily table
    const char* columns;  ///< the columns after tool and the period
};
constexpr DailyFamily kDailyNames{"names", "rollup_daily_names", "name, kind, success, events"};
constexpr DailyFamily kDailyPlatform{"platform", "rollup_daily_platform",
                                     "tool_version, os, os_version, arch, ci, success, events"};
constexpr DailyFamily kDailyDuration{"duration", "rollup_daily_duration", "bucket, events"};
// p50/p95/p99 by command: a histogram per period and name (rollup_daily_name_duration's row per
// bucket made weekly tiers nearly as long as daily ones; migration 009 says why).
constexpr DailyFamily kDailyNameHistogram{"name_histogram", "rollup_daily_name_histogram", "name, counts"};
constexpr DailyFamily kDailyExitCodes{nullptr, "rollup_daily_exit_codes", "kind, success, exit_code, events"};

/// The daily rollup family that answers `params` over [from, to), or nullptr: only when every
/// bucket and both ends are whole UTC days, and the table keeps every dimension asked for.
const DailyFamily* daily_table(const QueryParams& params, const std::string& from, const std::string& to) {
    if (!utc_zone(params.tz) || params.interval == Interval::hour || !start_of_day(from) || !start_of_day(to)) {
        return nullptr;
    }
    if (is_duration(params.metric)) {
        if (params.by.empty() && params.filters.empty()) return &kDailyDuration;
        return only_dimensions(params, kNameDimensions) ? &kDailyNameHistogram : nullptr;
    }
    if (params.metric != Metric::events && params.metric != Metric::success_rate) return nullptr;
    static const std::map<std::string_view, std::string_view> kNames = {{"name", ""}, {"kind", ""}, {"success", ""}};
    static const std::map<std::string_view, std::string_view> kPlatform = {
        {"tool_version", ""}, {"os", ""}, {"os_version", ""}, {"arch", ""}, {"ci", ""}, {"success", ""}};
    if (only_dimensions(params, kPlatform)) return &kDailyPlatform;
    if (only_dimensions(params, kNames)) return &kDailyNames;
    if (only_dimensions(params, kExitDimensions)) return &kDailyExitCodes;
    return nullptr;
}

/// Days since 1970-01-01 of a "YYYY-MM-DD..." time (its date part: a UTC day of the install tables).
std::int64_t day_number(const std::string& time) {
    return tk::calendar::days_from_civil(std::stoi(time.substr(0, 4)), std::stoi(time.substr(5, 2)),
                                         std::stoi(time.substr(8, 2)));
}

std::string date_literal(std::int64_t day) {
    const auto date = tk::calendar::civil_from_days(day);
    return fmt::format("DATE '{:04}-{:02}-{:02}'", date.year, date.month, date.day);
}

/// The bucket text of a period starting on `day`, as bucket_sql() writes it.
std::string bucket_label(std::int64_t day) {
    const auto date = tk::calendar::civil_from_days(day);
    return fmt::format("'{:04}-{:02}-{:02}T00:00:00'", date.year, date.month, date.day);
}

/// The period of `interval` that holds `day`: [start, end).
std::pair<std::int64_t, std::int64_t> period_of(Interval interval, std::int64_t day) {
    switch (interval) {
        case Interval::week: return {tk::calendar::week_start(day), tk::calendar::week_start(day) + 7};
        case Interval::month: return {tk::calendar::month_start(day), tk::calendar::next_month_start(day)};
        default: return {day, day + 1};
    }
}

/// The interval whose single period is exactly [begin, end), if any (day, week or month).
std::optional<Interval> whole_period(std::int64_t begin, std::int64_t end) {
    for (const Interval interval : {Interval::day, Interval::week, Interval::month}) {
        if (period_of(interval, begin) == std::make_pair(begin, end)) return interval;
    }
    return std::nullopt;
}

/// count(*) of the distinct installs of the days [begin, end), over install_cover()'s rows.
std::string distinct_installs_sql(std::int64_t begin, std::int64_t end) {
    const auto pieces = install_cover(begin, end);
    // UNION removes the installs seen in several pieces; one piece over several periods needs DISTINCT.
    std::string sql = pieces.size() == 1 ? "SELECT DISTINCT" : "";
    for (const InstallPiece& piece : pieces) {
        const char* table = piece.table == InstallTable::monthly  ? "rollup_installs_monthly"
                            : piece.table == InstallTable::weekly ? "rollup_installs_weekly"
                                                                  : "rollup_installs_daily";
        const char* column = piece.table == InstallTable::monthly  ? "month"
                             : piece.table == InstallTable::weekly ? "week"
                                                                   : "day";
        sql += fmt::format("{} anonymous_id FROM {} WHERE tool = $1 AND {} >= {} AND {} < {}",
                           pieces.size() == 1          ? ""
                           : &piece == &pieces.front() ? "SELECT"
                                                       : " UNION SELECT",
                           table, column, date_literal(piece.begin), column, date_literal(piece.end));
    }
    return "SELECT count(*) AS v FROM (" + sql + ") u";
}

/// The rows of a daily family over the UTC days [from_day, to_day) as one relation with a `day`
/// column: period_cover()'s whole months and weeks from the tiers, the rest from the daily table.
/// Every piece lies within one bucket of `interval`, so `day` (a period's first day) buckets right.
std::string daily_source(const DailyFamily& family, Interval interval, std::int64_t from_day, std::int64_t to_day) {
    const std::vector<InstallPiece> pieces = family.tier
                                                 ? period_cover(interval, from_day, to_day)
                                                 : std::vector<InstallPiece>{{InstallTable::daily, from_day, to_day}};
    std::string sql;
    for (const InstallPiece& piece : pieces) {
        const char* period = piece.table == InstallTable::monthly  ? "month"
                             : piece.table == InstallTable::weekly ? "week"
                                                                   : "day";
        const std::string table = piece.table == InstallTable::daily
                                      ? std::string(family.daily)
                                      : fmt::format("rollup_{}ly_{}", period, family.tier);
        sql += fmt::format("{}SELECT tool, {} AS day, {} FROM {} WHERE tool = $1 AND {} >= {} AND {} < {}",
                           sql.empty() ? "" : " UNION ALL ", period, family.columns, table, period,
                           date_literal(piece.begin), period, date_literal(piece.end));
    }
    return "(" + sql + ") t";
}

/// Distinct installs per bucket of the UTC days [from_day, to_day) (migration 008): buckets that
/// are whole days, weeks or months are one row each of rollup_install_counts; the partial ones at
/// the ends (and a range that is no whole period) are counted over the install tables' fewest rows.
std::string installs_sql(Interval interval, std::int64_t from_day, std::int64_t to_day) {
    std::vector<std::string> parts;
    const auto counted = [&](const char* period, std::int64_t begin, std::int64_t end, const std::string& label) {
        parts.push_back(
            fmt::format("SELECT {} AS b, sum(installs) AS v FROM rollup_install_counts WHERE tool = $1"
                        " AND period = '{}' AND start >= {} AND start < {} GROUP BY start",
                        label, period, date_literal(begin), date_literal(end)));
    };
    const auto distinct = [&](std::int64_t begin, std::int64_t end, const std::string& label) {
        parts.push_back("SELECT " + label + " AS b, v FROM (" + distinct_installs_sql(begin, end) + ") d");
    };
    if (from_day >= to_day) {
        // No whole UTC day in the range (e.g. from and to within one day): no installs counted.
    } else if (interval == Interval::none) {
        const auto whole = whole_period(from_day, to_day);
        if (whole) {
            counted(interval_name(*whole), from_day, to_day, "''");
        } else {
            distinct(from_day, to_day, "''");
        }
    } else {
        const std::string start_label = "to_char(start::timestamp, 'YYYY-MM-DD\"T\"HH24:MI:SS')";
        std::int64_t whole_begin = -1;
        std::int64_t whole_end = -1;
        for (std::int64_t day = from_day; day < to_day;) {
            const auto [start, end] = period_of(interval, day);
            if (start >= from_day && end <= to_day) {
                if (whole_begin < 0) whole_begin = start;
                whole_end = end;
            } else {
                distinct(std::max(start, from_day), std::min(end, to_day), bucket_label(start));
            }
            day = end;
        }
        if (whole_begin >= 0) counted(interval_name(interval), whole_begin, whole_end, start_label);
    }
    std::string sql = "SELECT b, '', sum(v)::float8 FROM (";
    for (std::size_t i = 0; i < parts.size(); ++i) sql += (i ? " UNION ALL " : "") + parts[i];
    if (parts.empty()) sql += "SELECT ''::text AS b, 0::bigint AS v";
    // $2 to $4 are not needed (the days are in the text) but must appear, see build_sql().
    return sql + ") r WHERE $2 <> '' AND $3 <> '' AND $4 <> '' GROUP BY b HAVING sum(v) > 0 ORDER BY 1";
}

}  // namespace

std::vector<InstallPiece> install_cover(std::int64_t begin, std::int64_t end) {
    std::vector<InstallPiece> pieces;
    const auto days = [&](std::int64_t from, std::int64_t to) {
        if (from < to) pieces.push_back({InstallTable::daily, from, to});
    };
    const auto weeks_and_days = [&](std::int64_t from, std::int64_t to) {
        const std::int64_t first = tk::calendar::week_start(from) == from ? from : tk::calendar::week_start(from) + 7;
        const std::int64_t last = to > first ? first + (to - first) / 7 * 7 : first;
        if (last > first) {
            days(from, first);
            pieces.push_back({InstallTable::weekly, first, last});
            days(last, to);
        } else {
            days(from, to);
        }
    };
    const std::int64_t first =
        tk::calendar::month_start(begin) == begin ? begin : tk::calendar::next_month_start(begin);
    std::int64_t last = first;
    while (tk::calendar::next_month_start(last) <= end) last = tk::calendar::next_month_start(last);
    if (first < end && last > first) {
        weeks_and_days(begin, first);
        pieces.push_back({InstallTable::monthly, first, last});
        weeks_and_days(last, end);
    } else {
        weeks_and_days(begin, end);
    }
    return pieces;
}

std::vector<InstallPiece> period_cover(Interval interval, std::int64_t begin, std::int64_t end) {
    std::vector<InstallPiece> pieces;
    for (std::int64_t day = begin; day < end;) {
        const std::int64_t stop = interval == Interval::none ? end : std::min(end, period_of(interval, day).second);
        for (const InstallPiece& piece : install_cover(day, stop)) pieces.push_back(piece);
        day = stop;
    }
    // Contiguous pieces of one table become one range (one scan of its index).
    std::sort(pieces.begin(), pieces.end(), [](const InstallPiece& a, const InstallPiece& b) {
        return std::tie(a.table, a.begin) < std::tie(b.table, b.begin);
    });
    std::vector<InstallPiece> merged;
    for (const InstallPiece& piece : pieces) {
        if (!merged.empty() && merged.back().table == piece.table && merged.back().end == piece.begin) {
            merged.back().end = piece.end;
        } else {
            merged.push_back(piece);
        }
    }
    return merged;
}

std::variant<QueryParams, std::string> parse_query(std::string_view query_string) {
    QueryParams params;
    std::string error = for_each_query_param(
        query_string, [&](const std::string& key, const std::string& value) { return apply(params, key, value); });
    if (!error.empty()) return error;
    if (params.tool.empty()) return std::string("tool: required");
    if (params.metric == Metric::new_installs && (!params.by.empty() || !params.filters.empty())) {
        return std::string("new_installs: no by or filter (an install is new once, whatever it runs)");
    }
    if ((params.metric == Metric::installs || params.metric == Metric::new_installs) &&
        params.interval == Interval::hour) {
        return std::string("installs and new_installs count days: interval day, week, month or none");
    }
    if (params.source == Source::rollups && !rollups_answer(params)) {
        return std::string("source=rollups: the rollups cannot answer this (see docs/query.md)");
    }
    return params;
}

bool rollups_answer(const QueryParams& params) {
    if (params.source == Source::events) return false;
    switch (params.metric) {
        case Metric::events:
        case Metric::success_rate:
            return only_dimensions(params, kHourlyDimensions) ||
                   (only_dimensions(params, kExitDimensions) && whole_utc_days(params));
        case Metric::installs: return params.by.empty() && params.filters.empty();
        case Metric::new_installs: return true;
        default: {
            static const std::map<std::string_view, std::string_view> kNameOnly = {{"name", "name"}};
            return only_dimensions(params, kNameOnly);
        }
    }
}

// $1 tool, $2 from, $3 tz, $4 to (local times); further parameters follow.
Sql build_sql(const QueryParams& params, bool from_rollups, const std::string& from, const std::string& to) {
    Sql sql;
    sql.params = {params.tool, from, params.tz, to};
    const auto in_range = [&](const std::string& column) {
        return column + " >= ($2::timestamp AT TIME ZONE $3) AND " + column + " < ($4::timestamp AT TIME ZONE $3)";
    };
    // Every parameter must appear in the statement (PostgreSQL cannot type one that does not), hence
    // "$3 <> ''" where a UTC-day table has no use for the time zone.
    const Metric metric = params.metric;
    if (metric == Metric::installs || metric == Metric::new_installs) {
        if (from_rollups && metric == Metric::installs) {
            sql.text = installs_sql(params.interval, day_number(from), day_number(to));
        } else if (from_rollups) {
            sql.text =
                "SELECT " + bucket_sql(params.interval, "first_day", true) +
                ", '', count(*)::float8 FROM rollup_install_first_seen WHERE tool = $1 AND $3 <> ''"
                " AND first_day >= $2::timestamp::date AND first_day < $4::timestamp::date GROUP BY 1 ORDER BY 1";
        } else if (metric == Metric::installs) {
            const std::string group = params.by.empty() ? "''" : dimension_sql(params.by, false, sql.params);
            const std::string filters = filters_sql(params, false, sql.params);
            sql.text = "SELECT " + bucket_sql(params.interval, "(id_time AT TIME ZONE 'UTC')::date", true) + ", " +
                       group +
                       ", count(DISTINCT anonymous_id)::float8 FROM events WHERE tool = $1 AND $3 <> ''"
                       " AND anonymous_id <> '' AND (id_time AT TIME ZONE 'UTC')::date >= $2::timestamp::date"
                       " AND (id_time AT TIME ZONE 'UTC')::date < $4::timestamp::date" +
                       filters + " GROUP BY 1, 2 ORDER BY 1, 2";
        } else {
            sql.text =
                "SELECT " + bucket_sql(params.interval, "first_day", true) +
                ", '', count(*)::float8 FROM (SELECT min((id_time AT TIME ZONE 'UTC')::date) AS first_day"
                " FROM events WHERE tool = $1 AND $3 <> '' AND anonymous_id <> '' GROUP BY anonymous_id) f"
                " WHERE first_day >= $2::timestamp::date AND first_day < $4::timestamp::date GROUP BY 1 ORDER BY 1";
        }
        return sql;
    }
    const DailyFamily* family = from_rollups ? daily_table(params, from, to) : nullptr;
    const std::string daily =
        family ? daily_source(*family, params.interval, day_number(from), day_number(to)) : std::string();
    const std::string daily_range = "day >= $2::timestamp::date AND day < $4::timestamp::date AND $3 <> ''";
    if (family == &kDailyNameHistogram) {
        // Rows (bucket, name, histogram), unordered: the collector adds the histograms (added_histograms()).
        sql.text = "SELECT " + bucket_sql(params.interval, "day", true) + ", name, counts::text FROM " + daily +
                   " WHERE tool = $1 AND " + daily_range + filters_sql(params, true, sql.params);
        return sql;
    }
    if (family && is_duration(metric)) {
        const std::string group = params.by.empty() ? "''" : "name";
        sql.text =
            grouped_by_bucket(params.interval, "day", true, {group, "bucket", "sum(events)::bigint"},
                              "FROM " + daily + " WHERE tool = $1 AND " + daily_range +
                                  filters_sql(params, true, sql.params) + " GROUP BY 1, 2, 3 HAVING sum(events) > 0",
                              "1, 2, 3");
        return sql;
    }
    if (from_rollups && is_duration(metric)) {
        const std::string group = params.by.empty() ? "''" : "name";
        sql.text =
            grouped_by_bucket(params.interval, "hour", false, {group, "bucket", "sum(events)::bigint"},
                              "FROM rollup_duration WHERE tool = $1 AND " + in_range("hour") +
                                  filters_sql(params, true, sql.params) + " GROUP BY 1, 2, 3 HAVING sum(events) > 0",
                              "1, 2, 3");
        return sql;
    }
    const std::string table = family ? daily : from_rollups ? "rollup_hourly" : "events";
    const std::string time = family ? "day" : from_rollups ? "hour" : "id_time";
    const std::string group = params.by.empty() ? "''" : dimension_sql(params.by, from_rollups, sql.params);
    const std::string filters = filters_sql(params, from_rollups, sql.params);
    std::string value;
    if (metric == Metric::events) {
        value = from_rollups ? "sum(events)::float8" : "count(*)::float8";
    } else if (metric == Metric::success_rate) {
        value = from_rollups ? "(sum(events) FILTER (WHERE success = 1))::float8 /"
                               " NULLIF(sum(events) FILTER (WHERE success >= 0), 0)"
                             : "(count(*) FILTER (WHERE success))::float8 / NULLIF(count(success), 0)";
    } else {
        value = fmt::format("(percentile_disc({}) WITHIN GROUP (ORDER BY duration_us))::float8", percentile_of(metric));
    }
    sql.text = grouped_by_bucket(params.interval, time, family != nullptr, {group, value},
                                 "FROM " + table + " WHERE tool = $1 AND " + (family ? daily_range : in_range(time)) +
                                     filters + " GROUP BY 1, 2" + (from_rollups ? " HAVING sum(events) <> 0" : ""),
                                 "1, 2");
    return sql;
}

std::vector<AnswerRow> percentiles_from_buckets(
    const std::vector<std::tuple<std::string, std::string, int, long long>>& counts, double p) {
    std::vector<AnswerRow> rows;
    std::size_t begin = 0;
    while (begin < counts.size()) {
        std::size_t end = begin;
        long long total = 0;
        while (end < counts.size() && std::get<0>(counts[end]) == std::get<0>(counts[begin]) &&
               std::get<1>(counts[end]) == std::get<1>(counts[begin])) {
            total += std::get<3>(counts[end++]);
        }
        // The smallest bucket whose cumulative count reaches p of the total (as percentile_disc).
        const double rank = std::max(1.0, std::ceil(p * static_cast<double>(total)));
        long long cumulative = 0;
        for (std::size_t i = begin; i < end; ++i) {
            cumulative += std::get<3>(counts[i]);
            if (static_cast<double>(cumulative) >= rank) {
                const int bucket = std::get<2>(counts[i]);
                rows.push_back({std::get<0>(counts[i]), std::get<1>(counts[i]),
                                bucket == 0 ? 0.0 : std::pow(2.0, (bucket - 0.5) / 8.0)});
                break;
            }
        }
        begin = end;
    }
    return rows;
}

std::vector<std::pair<int, long long>> parse_histogram(std::string_view text) {
    std::vector<std::pair<int, long long>> buckets;
    int bucket = 1;  // PostgreSQL writes no bounds when the lower one is 1
    if (!text.empty() && text.front() == '[') {
        const auto colon = text.find(':');
        if (colon == std::string_view::npos) return buckets;
        bucket = std::stoi(std::string(text.substr(1, colon - 1)));
        text.remove_prefix(std::min(text.size(), text.find('=') + 1));
    }
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') return buckets;
    text = text.substr(1, text.size() - 2);
    while (!text.empty()) {
        const auto comma = std::min(text.find(','), text.size());
        const std::string_view element = text.substr(0, comma);
        long long count = 0;
        if (element != "NULL" &&
            std::from_chars(element.data(), element.data() + element.size(), count).ec == std::errc()) {
            buckets.emplace_back(bucket, count);
        }
        ++bucket;
        text.remove_prefix(std::min(text.size(), comma + 1));
    }
    return buckets;
}

namespace {

/// Adds the histograms of rows (bucket text, group, histogram text) per bucket and group, as
/// percentiles_from_buckets() takes them: sorted, buckets with a positive count only (as the
/// SQL of the per-bucket tables' HAVING sum(events) > 0).
std::vector<std::tuple<std::string, std::string, int, long long>> added_histograms(const Result& result) {
    // Per (bucket, group): counts from bucket `low` on, grown at either end as buckets arrive
    // (an index add per element, not a map insertion: 30 days are ~200k elements).
    struct Sum {
        int low = 0;
        std::vector<long long> counts;
    };
    std::map<std::pair<std::string, std::string>, Sum> sums;
    for (int row = 0; row < result.rows(); ++row) {
        Sum& sum = sums[{std::string(result.value(row, 0)), std::string(result.value(row, 1))}];
        for (const auto& [bucket, count] : parse_histogram(result.value(row, 2))) {
            if (sum.counts.empty()) sum.low = bucket;
            if (bucket < sum.low) {
                sum.counts.insert(sum.counts.begin(), static_cast<std::size_t>(sum.low - bucket), 0);
                sum.low = bucket;
            }
            const auto at = static_cast<std::size_t>(bucket - sum.low);
            if (at >= sum.counts.size()) sum.counts.resize(at + 1, 0);
            sum.counts[at] += count;
        }
    }
    std::vector<std::tuple<std::string, std::string, int, long long>> counts;
    for (const auto& [key, sum] : sums) {
        for (std::size_t i = 0; i < sum.counts.size(); ++i) {
            if (sum.counts[i] > 0)
                counts.emplace_back(key.first, key.second, sum.low + static_cast<int>(i), sum.counts[i]);
        }
    }
    return counts;
}

/// Runs a rollup statement without parallel workers and with room to sort in memory. It reads a
/// few thousand rows by index ranges, often a UNION ALL of tiers that the planner would hand to
/// workers as a Parallel Append, and a Gather's start-up cost more than the read itself (bench_query,
/// loaded 2-core machine: a 46 ms serial read of 3,600 histograms took 240-380 ms in parallel).
/// The planner cannot estimate the text filters (`kind::text IN (...)`), so it groups by sorting:
/// 68k weekly rows of a 13-month trend spilled to disk at the default 4 MB. One round trip each.
Result exec_serial(Connection& conn, const Sql& sql) {
    return with_session_settings(conn, "SET max_parallel_workers_per_gather = 0; SET work_mem = '32MB'",
                                 "RESET max_parallel_workers_per_gather; RESET work_mem",
                                 [&] { return conn.exec(sql.text, sql.params); });
}

std::vector<AnswerRow> run_rows(Connection& conn, const QueryParams& params, bool from_rollups, const std::string& from,
                                const std::string& to) {
    const Sql sql = build_sql(params, from_rollups, from, to);
    // Only the daily tables, their tiers and the install tables are small reads; the hourly
    // tables (other zones, hours) are as big as the events and keep parallel plans.
    const bool small_read =
        from_rollups && (daily_table(params, from, to) != nullptr || params.metric == Metric::installs ||
                         params.metric == Metric::new_installs);
    const Result result = small_read ? exec_serial(conn, sql) : conn.exec(sql.text, sql.params);
    std::vector<AnswerRow> rows;
    if (from_rollups && daily_table(params, from, to) == &kDailyNameHistogram) {
        return percentiles_from_buckets(added_histograms(result), percentile_of(params.metric));
    }
    if (from_rollups && is_duration(params.metric)) {
        std::vector<std::tuple<std::string, std::string, int, long long>> counts;
        for (int row = 0; row < result.rows(); ++row) {
            counts.emplace_back(std::string(result.value(row, 0)), std::string(result.value(row, 1)),
                                std::stoi(std::string(result.value(row, 2))),
                                std::stoll(std::string(result.value(row, 3))));
        }
        return percentiles_from_buckets(counts, percentile_of(params.metric));
    }
    for (int row = 0; row < result.rows(); ++row) {
        AnswerRow answer{std::string(result.value(row, 0)), std::string(result.value(row, 1)), std::nullopt};
        const std::string value(result.value(row, 2));
        if (!value.empty()) answer.value = std::stod(value);
        rows.push_back(std::move(answer));
    }
    return rows;
}

void append_rows(std::string& json, const QueryParams& params, const std::vector<AnswerRow>& rows) {
    json += "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        json += i ? ",{" : "{";
        if (params.interval != Interval::none) {
            json += "\"bucket\":";
            tk::json::append_string(json, rows[i].bucket);
            json += ",";
        }
        if (!params.by.empty()) {
            json += "\"group\":";
            tk::json::append_string(json, rows[i].group);
            json += ",";
        }
        json += "\"value\":";
        json += rows[i].value ? fmt::format("{}", *rows[i].value) : "null";
        json += "}";
    }
    json += "]";
}

/// Whether PostgreSQL knows `tz` as a time zone name. pg_timezone_names reads every zone file on
/// each use (60-300 ms here: more than a whole query from the rollups may take), so the names are
/// read once per process and kept: about 1,200 short strings.
bool known_time_zone(Connection& conn, const std::string& tz) {
    static std::once_flag loaded;
    static std::set<std::string> names;
    std::call_once(loaded, [&] {  // a failure throws and leaves it to the next call
        const Result result = conn.exec("SELECT name FROM pg_timezone_names");
        for (int row = 0; row < result.rows(); ++row) names.emplace(result.value(row, 0));
    });
    return names.count(tz) > 0;
}

/// Whether `tz` is UTC+0 at every local midnight of [from, to] (midnights; `from` at most a range
/// before `to`): then each local day there is a UTC day — Europe/London or Africa/Abidjan in
/// winter — and the daily tables answer exactly as for UTC (the local times are the UTC times).
bool utc_days_in(Connection& conn, const std::string& tz, const std::string& from, const std::string& to) {
    const Result result = conn.exec(
        "SELECT bool_and(d AT TIME ZONE $1 = d AT TIME ZONE 'UTC') FROM"
        " generate_series($2::timestamp, $3::timestamp, interval '1 day') AS d",
        {tz, from, to});
    return result.value(0, 0) == "t";
}

/// The parameters the statements are built from: `params`, or with tz UTC when the zone is UTC+0
/// over the whole question (the previous period included), so that the daily tables answer.
QueryParams effective_params(Connection& conn, const QueryParams& params, bool from_rollups, const std::string& from,
                             const std::string& to) {
    if (!from_rollups || utc_zone(params.tz) || !start_of_day(from) || !start_of_day(to)) return params;
    std::string earliest = from;
    if (params.compare_previous) {
        earliest = std::string(conn.exec("SELECT to_char($1::timestamp - ($2::timestamp - $1::timestamp),"
                                         " 'YYYY-MM-DD\"T\"HH24:MI:SS')",
                                         {from, to})
                                   .value(0, 0));
    }
    if (!start_of_day(earliest) || !utc_days_in(conn, params.tz, earliest, to)) return params;
    QueryParams utc = params;
    utc.tz = "UTC";
    return utc;
}

void append_field(std::string& json, const char* key, const std::string& value) {
    json += fmt::format(",\"{}\":", key);
    tk::json::append_string(json, value);
}

}  // namespace

QueryResult answer_query(Connection& conn, const QueryParams& params) {
    if (!known_time_zone(conn, params.tz)) {
        return {400, "tz: unknown time zone " + params.tz + "\n"};
    }
    const bool from_rollups = rollups_answer(params);
    // The range in local time: defaults, and for raw answers at most kMaxRawDays days before `to`.
    const Result range = conn.exec(
        "WITH r AS (SELECT coalesce(NULLIF($2, '')::timestamp, date_trunc('day', now() AT TIME ZONE $1) + interval '1 "
        "day')"
        " AS t, NULLIF($3, '')::timestamp AS f)"
        " SELECT to_char(greatest(coalesce(f, t - interval '30 days'), CASE WHEN $4 THEN t - make_interval(days => "
        "$5::int)"
        " END), 'YYYY-MM-DD\"T\"HH24:MI:SS'), to_char(t, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
        " coalesce(f, t - interval '30 days') < t - make_interval(days => $5::int) AND $4 FROM r",
        {params.tz, params.to, params.from, from_rollups ? "false" : "true", std::to_string(kMaxRawDays)});
    const std::string from(range.value(0, 0));
    const std::string to(range.value(0, 1));
    const bool clamped = range.value(0, 2) == "t";
    if (from >= to) return {400, "from: must be before to\n"};

    std::string json = "{\"tool\":";
    tk::json::append_string(json, params.tool);
    for (const auto& [name, metric] : kMetrics) {
        if (metric == params.metric) append_field(json, "metric", std::string(name));
    }
    if (!params.by.empty()) append_field(json, "by", params.by);
    append_field(json, "interval", interval_name(params.interval));
    append_field(json, "tz", params.tz);
    append_field(json, "from", from);
    append_field(json, "to", to);
    append_field(json, "source", from_rollups ? "rollups" : "events");
    if (clamped) {
        json += fmt::format(",\"note\":\"answered from raw events: the range is limited to the last {} days\"",
                            kMaxRawDays);
    }
    json += ",\"rows\":";
    const QueryParams effective = effective_params(conn, params, from_rollups, from, to);
    append_rows(json, params, run_rows(conn, effective, from_rollups, from, to));
    if (params.compare_previous) {
        const Result previous = conn.exec(
            "SELECT to_char($1::timestamp - ($2::timestamp - $1::timestamp), 'YYYY-MM-DD\"T\"HH24:MI:SS')", {from, to});
        const std::string previous_from(previous.value(0, 0));
        json += ",\"previous\":{\"from\":";
        tk::json::append_string(json, previous_from);
        append_field(json, "to", from);
        json += ",\"rows\":";
        append_rows(json, params, run_rows(conn, effective, from_rollups, previous_from, from));
        json += "}";
    }
    json += "}\n";
    return {200, std::move(json)};
}

}  // namespace tk::collector
