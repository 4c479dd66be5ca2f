// Query speed: every question a dashboard panel asks (issue 11), through the real GET /v1/query of a
// real tk-collector with a read token, over 10 million synthetic events of 13 months, next to the
// same answer computed from the raw events by SQL in the same run (the ratio is the figure), and
// checked equal to it.
//
// The events are made by PostgreSQL itself (generate_series, one statement per day) and rolled up
// by the collector's own rollup statements (detail::rollup_upserts), so loading 10 million takes
// minutes, not the hours HTTP batches would; --reuse DIR keeps the cluster so the load is paid once.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "collector/http_client.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "tk/collector/database.hpp"
#include "tk/collector/ingest.hpp"
#include "tk/collector/query.hpp"
#include "tk/collector/shard_folding.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using tk::collector::Connection;
using tk::test::PostgresCluster;

constexpr const char* kTool = "bench-cli";
constexpr std::int64_t kMsPerDay = 86'400'000;

struct Options {
    long long events = 10'000'000;
    int installs = 5000;
    int days = 395;  // 13 months
    int runs = 20;
    int raw_runs = 1;
    int long_raw_runs = 1;
    double budget_seconds = 5;
    int load_connections = 2;
    std::string reuse;
    std::string tz = "UTC";       // the questions' time zone (from and to are its midnights)
    std::string ranges = "both";  // 30d, 13m or both
};

/// The bench's own connections: no statement timeout (a raw answer over 13 months takes a while).
tk::collector::ConnectionSettings unbounded_settings() {
    tk::collector::ConnectionSettings settings;
    settings.statement_timeout_ms = 0;
    settings.lock_timeout_ms = 0;
    return settings;
}

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Events per day: the tool's installs grow (events follow the installs active that day, as the
/// square root of the days since the first), weekends see 40% fewer. Sums to `total`.
std::vector<long long> events_per_day(long long total, int days, int first_weekday) {
    std::vector<double> weights;
    double sum = 0;
    for (int d = 0; d < days; ++d) {
        const int weekday = (first_weekday + d) % 7;  // 0 = Monday
        weights.push_back(std::sqrt((d + 1.0) / days) * (weekday >= 5 ? 0.6 : 1.0));
        sum += weights.back();
    }
    std::vector<long long> counts;
    long long given = 0;
    for (int d = 0; d < days; ++d) {
        counts.push_back(d + 1 == days ? total - given : std::llround(total * weights[d] / sum));
        given += counts.back();
    }
    return counts;
}

/// One day of events, made by PostgreSQL and rolled up by the collector's statements. $1 the day's
/// start (Unix ms), $2 how many, $3 the day's index, $4 the days in all, $5 the installs in all,
/// $6 a counter for unique ids. The shape:
///  - installs k = 0..K-1 arrive over the period (k is active from day D·(k/K)²); half of a day's
///    events come from the newest installs (exponential in age: people try a tool, then most stop)
///    and half from a random 15% of the installs so far (the regulars);
///  - commands Zipf-like: index ⌊301^u⌋-1 (log-uniform, P ∝ 1/rank) over 300 names, the top ten named
///    like real ones; 85% commands, 12% features (40), 3% custom events (12);
///  - versions: one release every 9 days (44 in all), each event's version lags the newest by a
///    geometric number of releases (mean 1.5): adoption over weeks;
///  - OS/arch/CI fixed per install: linux 60%, macOS 28%, Windows 12% with a few versions each;
///    arm64 on most macOS and 10% of the rest; 8% of installs are CI;
///  - commands: 5% fail (exit codes 1, 2, 101, 127, 130), durations log-normal (median 250 ms, σ 1.1).
std::string load_statement() {
    return std::string(
               "WITH g AS (SELECT i, ($1 + floor(random() * 86400000))::bigint AS ms,"
               " ceil($5 * sqrt(($3 + 1)::float8 / $4))::int AS active,"
               " floor(exp(random() * ln(301.0)))::int - 1 AS c, random() AS rk, random() AS rv, random() AS rs,"
               " random() AS re, random() AS ra, random() AS rm, random() AS rn, 1 - random() AS u1, random() AS u2"
               " FROM generate_series(1, $2) AS i),"
               " e AS (SELECT *, CASE WHEN rm < 0.5 THEN greatest(0, active - 1 - floor(-ln(1 - rn) * 150)::int)"
               " ELSE (floor(active * 0.15 * rn)::int * 7919 + $3 * 104729) % active END AS k,"
               " CASE WHEN rk < 0.85 THEN 1 WHEN rk < 0.97 THEN 2 ELSE 3 END::smallint AS kind,"
               " greatest(0, $3 / 9 - floor(-ln(1 - rv) * 1.5)::int) AS v FROM g),"
               " f AS (SELECT *, (k * 2654435761::bigint) % 100 AS h1, (k * 40503::bigint) % 100 AS h2 FROM e),"
               " inserted AS (INSERT INTO events (event_id, id_time, tool, tool_version, kind, name, occurred_at,"
               " received_at, anonymous_id, attributes, success, duration_us, exit_code, ci, os, os_version, arch,"
               " agent_version)"
               " SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(($6 + i)::text), 1, 3) || '8' ||"
               " substr(md5(($6 + i)::text), 4, 15))::uuid, to_timestamp(ms / 1000.0), '") +
           kTool +
           "', '2.' || (v / 10) || '.' || (v % 10), kind,"
           " CASE kind WHEN 1 THEN coalesce((ARRAY['build', 'test', 'run', 'lint', 'fmt', 'deploy', 'init', 'clean',"
           " 'check', 'doc'])[c + 1], 'cmd-' || c) WHEN 2 THEN 'feature-' || (c % 40) ELSE 'event-' || (c % 12) END,"
           " to_timestamp(ms / 1000.0), to_timestamp(ms / 1000.0), md5('install-' || k),"
           " CASE WHEN kind = 1 THEN jsonb_build_object('cache', CASE WHEN ra < 0.7 THEN 'hit' ELSE 'miss' END)"
           " ELSE '{}'::jsonb END,"
           " CASE WHEN kind = 1 THEN rs >= 0.05 END,"
           " CASE WHEN kind = 1 THEN exp(ln(250000.0) + 1.1 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2))::bigint END,"
           " CASE WHEN kind = 1 THEN CASE WHEN rs >= 0.05 THEN 0"
           " ELSE (ARRAY[1, 2, 101, 127, 130])[1 + floor(re * 5)::int] END END,"
           " h2 < 8,"
           " CASE WHEN h1 < 60 THEN 'linux' WHEN h1 < 88 THEN 'macos' ELSE 'windows' END,"
           " CASE WHEN h1 < 25 THEN 'debian 12' WHEN h1 < 45 THEN 'ubuntu 24' WHEN h1 < 55 THEN 'ubuntu 22'"
           " WHEN h1 < 60 THEN 'fedora 41' WHEN h1 < 78 THEN 'macos 15' WHEN h1 < 88 THEN 'macos 14'"
           " WHEN h1 < 96 THEN 'windows 11' ELSE 'windows 10' END,"
           " CASE WHEN h1 >= 60 AND h1 < 84 THEN 'arm64' WHEN h2 % 10 = 0 THEN 'arm64' ELSE 'x86_64' END,"
           " '0.' || (1 + $3 / 60) || '.0'"
           " FROM f ORDER BY ms RETURNING " +
           tk::collector::detail::kRollupColumns + ")," + tk::collector::detail::rollup_upserts("inserted") +
           " SELECT count(*) FROM inserted";
}

/// What was loaded, so that --reuse loads only once for the same shape.
struct Loaded {
    bool found = false;
    std::string end_day;  // the day after the last loaded day (UTC), YYYY-MM-DD
    double seconds = 0;
};

Loaded loaded(Connection& conn, const Options& options) {
    conn.exec(
        "CREATE TABLE IF NOT EXISTS bench_query_load (events bigint, installs int, days int, end_day date,"
        " seconds float8)");
    const auto result = conn.exec(
        "SELECT to_char(end_day, 'YYYY-MM-DD'), seconds FROM bench_query_load WHERE events = $1 AND installs = $2"
        " AND days = $3",
        {std::to_string(options.events), std::to_string(options.installs), std::to_string(options.days)});
    if (result.rows() == 0) return {};
    return {true, std::string(result.value(0, 0)), std::stod(std::string(result.value(0, 1)))};
}

Loaded load(Connection& conn, const std::string& url, const Options& options) {
    if (conn.exec("SELECT count(*) FROM bench_query_load").value(0, 0) != "0") {
        throw std::runtime_error("--reuse: this cluster holds another data set; use another directory");
    }
    const auto today = conn.exec(
        "SELECT (extract(epoch FROM date_trunc('day', now() AT TIME ZONE 'UTC')) * 1000)::bigint,"
        " to_char(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day', 'YYYY-MM-DD'),"
        " extract(isodow FROM date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => $1))::int - 1",
        {std::to_string(options.days - 1)});
    const std::int64_t last_day_ms = std::stoll(std::string(today.value(0, 0)));
    const std::string end_day(today.value(0, 1));
    const std::int64_t first_day_ms = last_day_ms - static_cast<std::int64_t>(options.days - 1) * kMsPerDay;
    std::vector<std::int64_t> days_ms;
    for (int d = 0; d < options.days; ++d) days_ms.push_back(first_day_ms + d * kMsPerDay);
    tk::collector::PartitionCache partitions;
    partitions.ensure(conn, days_ms, 0);

    const auto counts = events_per_day(options.events, options.days, std::stoi(std::string(today.value(0, 2))));
    std::vector<long long> first_id(counts.size(), 0);  // unique id counters per day
    for (std::size_t d = 1; d < counts.size(); ++d) first_id[d] = first_id[d - 1] + counts[d - 1];
    const std::string statement = load_statement();
    const auto start = Clock::now();
    std::atomic<int> next_day{0};
    std::atomic<int> days_done{0};
    std::vector<std::string> errors(static_cast<std::size_t>(options.load_connections));
    std::vector<std::thread> loaders;
    for (int c = 0; c < options.load_connections; ++c) {
        loaders.emplace_back([&, c] {
            try {
                Connection loader(url, unbounded_settings());
                for (int d = next_day++; d < options.days; d = next_day++) {
                    loader.exec(statement, {std::to_string(days_ms[static_cast<std::size_t>(d)]),
                                            std::to_string(counts[static_cast<std::size_t>(d)]), std::to_string(d),
                                            std::to_string(options.days), std::to_string(options.installs),
                                            std::to_string(first_id[static_cast<std::size_t>(d)])});
                    if (const int done = ++days_done; done % 30 == 0) {
                        fmt::print("  loaded {} of {} days, {:.0f} s\n", done, options.days, ms_since(start) / 1000);
                        std::fflush(stdout);
                    }
                }
            } catch (const std::exception& error) {
                errors[static_cast<std::size_t>(c)] = error.what();
                next_day = options.days;  // the others stop too
            }
        });
    }
    for (auto& loader : loaders) loader.join();
    for (const auto& error : errors) {
        if (!error.empty()) throw std::runtime_error("load: " + error);
    }
    conn.exec("VACUUM ANALYZE");
    const double seconds = ms_since(start) / 1000;
    conn.exec("INSERT INTO bench_query_load VALUES ($1, $2, $3, $4, $5)",
              {std::to_string(options.events), std::to_string(options.installs), std::to_string(options.days), end_day,
               std::to_string(seconds)});
    return {true, end_day, seconds};
}

/// One dashboard question. `query` is /v1/query's parameters after tool, from and to; "{trend}"
/// becomes the trend lines' interval (day over 30 days, week over 13 months).
struct Question {
    const char* panel;
    const char* query;
};

const std::vector<Question> kQuestions = {
    {"overview: events", "metric=events&compare=previous"},
    {"overview: active installs", "metric=installs&compare=previous"},
    {"overview: daily active installs", "metric=installs&interval=day"},
    {"overview: weekly active installs", "metric=installs&interval=week"},
    {"overview: monthly active installs", "metric=installs&interval=month"},
    {"overview: new installs", "metric=new_installs&compare=previous"},
    {"overview: success rate", "metric=success_rate&compare=previous"},
    {"overview: duration p50", "metric=duration_p50&compare=previous"},
    {"overview: duration p95", "metric=duration_p95&compare=previous"},
    {"commands: count", "metric=events&by=name&filter=kind:1"},
    {"commands: success rate", "metric=success_rate&by=name&filter=kind:1"},
    {"commands: p95", "metric=duration_p95&by=name"},
    {"commands: trend", "metric=events&by=name&filter=kind:1&interval={trend}"},
    {"versions: adoption by week", "metric=events&by=tool_version&interval=week"},
    {"platform: OS", "metric=events&by=os"},
    {"platform: arch", "metric=events&by=arch"},
    {"failures: top commands", "metric=events&by=name&filter=success:false"},
    {"failures: exit codes", "metric=events&by=exit_code&filter=success:false"},
    {"features: adoption", "metric=events&by=name&filter=kind:2&interval={trend}"},
    {"new vs returning: new by week", "metric=new_installs&interval=week"},
    {"CI share", "metric=events&by=ci"},
};

/// Retention cohorts: GET /v1/cohorts (installs by first-seen week and weeks since), next to the
/// same grid from the raw events.
const char* const kCohortsRaw =
    "WITH days AS (SELECT DISTINCT anonymous_id, (id_time AT TIME ZONE 'UTC')::date AS day FROM events"
    " WHERE tool = $1 AND anonymous_id <> ''), firsts AS (SELECT anonymous_id, min(day) AS first_day FROM days"
    " GROUP BY 1) SELECT date_trunc('week', f.first_day)::date, (d.day - date_trunc('week', f.first_day)::date) / 7,"
    " count(DISTINCT d.anonymous_id) FROM firsts f JOIN days d USING (anonymous_id) WHERE f.first_day >= $2::date"
    " AND f.first_day < $3::date AND d.day < $3::date GROUP BY 1, 2";

struct Timing {
    std::vector<double> ms;
    double percentile(double p) const {
        if (ms.empty()) return NAN;
        auto sorted = ms;
        std::sort(sorted.begin(), sorted.end());
        const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
        return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
    }
};

using Answer = std::map<std::string, std::optional<double>>;  // "bucket|group" -> value

/// An API answer's rows (and the previous period's, keyed with a "previous " prefix).
Answer answer_of(const std::string& body, std::string& from) {
    google::protobuf::Struct json;
    if (!google::protobuf::util::JsonStringToMessage(body, &json).ok()) throw std::runtime_error("bad JSON: " + body);
    Answer answer;
    from = json.fields().at("from").string_value();
    const auto add = [&](const google::protobuf::ListValue& rows, const std::string& prefix) {
        for (const auto& row : rows.values()) {
            const auto& cells = row.struct_value().fields();
            const std::string key = prefix + (cells.count("bucket") ? cells.at("bucket").string_value() : "") + "|" +
                                    (cells.count("group") ? cells.at("group").string_value() : "");
            const auto& value = cells.at("value");
            answer[key] = value.has_null_value() ? std::nullopt : std::optional<double>(value.number_value());
        }
    };
    add(json.fields().at("rows").list_value(), "");
    if (json.fields().count("previous")) {
        add(json.fields().at("previous").struct_value().fields().at("rows").list_value(), "previous ");
    }
    return answer;
}

void add_rows(Answer& answer, const tk::collector::Result& result, const std::string& prefix) {
    for (int row = 0; row < result.rows(); ++row) {
        const std::string key = prefix + std::string(result.value(row, 0)) + "|" + std::string(result.value(row, 1));
        answer[key] =
            result.is_null(row, 2) ? std::nullopt : std::optional<double>(std::stod(std::string(result.value(row, 2))));
    }
}

/// The rows with a value: a raw answer also names groups with nothing to compute from (a p95 of
/// a name that never said its duration: null), which the rollups never see.
Answer with_values(const Answer& answer) {
    Answer kept;
    for (const auto& [key, value] : answer) {
        if (value) kept.emplace(key, value);
    }
    return kept;
}

/// Equal: the same rows, exact values equal, percentiles within the duration buckets' 4.43%.
bool same(const Answer& rollups, const Answer& raw, double tolerance) {
    const Answer a = with_values(rollups);
    const Answer b = with_values(raw);
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a) {
        const auto other = b.find(key);
        if (other == b.end()) return false;
        if (std::abs(*value - *other->second) > tolerance * std::max(std::abs(*value), 1e-9)) return false;
    }
    return true;
}

std::string previous_from(Connection& conn, const std::string& from, const std::string& to) {
    return std::string(conn.exec("SELECT to_char($1::timestamp - ($2::timestamp - $1::timestamp),"
                                 " 'YYYY-MM-DD\"T\"HH24:MI:SS')",
                                 {from, to})
                           .value(0, 0));
}

/// The raw answer of a question: build_sql's statement over the raw events (the one the API
/// itself uses with source=events), without the API's 31-day limit.
Answer raw_answer(Connection& conn, const tk::collector::QueryParams& params, const std::string& from,
                  const std::string& to) {
    Answer answer;
    const auto sql = tk::collector::build_sql(params, false, from, to);
    add_rows(answer, conn.exec(sql.text, sql.params), "");
    if (params.compare_previous) {
        const std::string before = previous_from(conn, from, to);
        const auto previous = tk::collector::build_sql(params, false, before, from);
        add_rows(answer, conn.exec(previous.text, previous.params), "previous ");
    }
    return answer;
}

struct Row {
    std::string range;
    std::string panel;
    std::string source;
    Timing api;
    Timing raw;
    bool same = false;
};

void print_row(const Row& row) {
    const double ratio = row.raw.percentile(0.5) / row.api.percentile(0.5);
    fmt::print("{:<10} {:<34} {:<8} {:>9.1f} {:>9.1f} {:>10.1f} {:>8.1f}x {:>5} {}\n", row.range, row.panel, row.source,
               row.api.percentile(0.5), row.api.percentile(0.95), row.raw.percentile(0.5), ratio,
               row.same ? "yes" : "NO", row.api.percentile(0.95) <= 100 ? "" : "  > 100 ms");
    std::fflush(stdout);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

Row ask(unsigned short port, Connection& conn, const std::string& token, const Question& question,
        const std::string& range, const std::string& from, const std::string& to, const std::string& trend,
        const Options& options) {
    std::string tz = options.tz;
    for (auto at = tz.find('/'); at != std::string::npos; at = tz.find('/', at)) tz.replace(at, 1, "%2F");
    const std::string query = std::string("tool=") + kTool + "&from=" + from + "&to=" + to + "&tz=" + tz + "&" +
                              replace_all(question.query, "{trend}", trend);
    const auto parsed = tk::collector::parse_query(query);
    if (std::holds_alternative<std::string>(parsed)) throw std::runtime_error(std::get<std::string>(parsed));
    const auto& params = std::get<tk::collector::QueryParams>(parsed);
    Row row{range, question.panel, tk::collector::rollups_answer(params) ? "rollups" : "events", {}, {}, false};
    std::string body;
    // A connection per question: the raw SQL between questions can outlast the collector's
    // keep-alive idle time.
    tk::test::HttpConnection http(port);
    const auto asked = Clock::now();
    for (int run = 0; run < options.runs && (run < 3 || ms_since(asked) < options.budget_seconds * 1000); ++run) {
        const auto start = Clock::now();
        const auto response = http.request(boost::beast::http::verb::get, "/v1/query?" + query, {},
                                           {{"Authorization", "Bearer " + token}});
        row.api.ms.push_back(ms_since(start));
        if (response.status != 200)
            throw std::runtime_error(fmt::format("{}: {} {}", query, response.status, response.body));
        body = response.body;
    }
    std::string answered_from;
    const Answer api = answer_of(body, answered_from);
    // A raw-only question is answered for at most 31 days; the raw SQL asks the same range.
    const std::string raw_from = row.source == "events" ? answered_from : from + "T00:00:00";
    Answer raw;
    const int raw_runs = range == "30 days" ? options.raw_runs : options.long_raw_runs;
    for (int run = 0; run < raw_runs; ++run) {
        const auto start = Clock::now();
        raw = raw_answer(conn, params, raw_from, to + "T00:00:00");
        row.raw.ms.push_back(ms_since(start));
    }
    const bool duration = params.metric == tk::collector::Metric::duration_p50 ||
                          params.metric == tk::collector::Metric::duration_p95 ||
                          params.metric == tk::collector::Metric::duration_p99;
    row.same = same(api, raw, duration ? 0.0443 : 1e-9);
    return row;
}

/// A /v1/cohorts answer as "cohort|period" -> active installs (periods with nobody left out, as
/// the raw SQL has no row for them).
Answer cohort_answer(const std::string& body) {
    google::protobuf::Struct json;
    if (!google::protobuf::util::JsonStringToMessage(body, &json).ok()) throw std::runtime_error("bad JSON: " + body);
    Answer answer;
    for (const auto& cohort : json.fields().at("cohorts").list_value().values()) {
        const auto& fields = cohort.struct_value().fields();
        const auto& active = fields.at("active").list_value().values();
        for (int i = 0; i < active.size(); ++i) {
            if (active[i].number_value() > 0) {
                answer[fields.at("cohort").string_value() + "|" + std::to_string(i)] = active[i].number_value();
            }
        }
    }
    return answer;
}

Row cohorts(unsigned short port, Connection& conn, const std::string& token, const std::string& range,
            const std::string& from, const std::string& to, const Options& options) {
    Row row{range, "retention cohorts (/v1/cohorts)", "rollups", {}, {}, false};
    const std::string target = std::string("/v1/cohorts?tool=") + kTool + "&interval=week&from=" + from + "&to=" + to;
    tk::test::HttpConnection http(port);
    std::string body;
    const auto asked = Clock::now();
    for (int run = 0; run < options.runs && (run < 3 || ms_since(asked) < options.budget_seconds * 1000); ++run) {
        const auto start = Clock::now();
        const auto response =
            http.request(boost::beast::http::verb::get, target, {}, {{"Authorization", "Bearer " + token}});
        row.api.ms.push_back(ms_since(start));
        if (response.status != 200)
            throw std::runtime_error(fmt::format("{}: {} {}", target, response.status, response.body));
        body = response.body;
    }
    tk::collector::Result raw_rows{nullptr};
    for (int run = 0; run < (range == "30 days" ? options.raw_runs : options.long_raw_runs); ++run) {
        const auto start = Clock::now();
        raw_rows = conn.exec(kCohortsRaw, {kTool, from, to});
        row.raw.ms.push_back(ms_since(start));
    }
    Answer raw;
    add_rows(raw, raw_rows, "");
    row.same = same(cohort_answer(body), raw, 1e-9);
    return row;
}

/// Rows and size of the events and each rollup: how much smaller than the events a rollup is
/// decides how fast it answers.
void print_sizes(Connection& conn) {
    fmt::print("{:<28} {:>12} {:>10}\n", "table", "rows", "MiB");
    for (const char* table : {"events",
                              "rollup_hourly",
                              "rollup_duration",
                              "rollup_daily_names",
                              "rollup_daily_platform",
                              "rollup_daily_duration",
                              "rollup_installs_daily",
                              "rollup_install_first_seen",

                              "rollup_daily_exit_codes",
                              "rollup_installs_weekly",
                              "rollup_installs_monthly",
                              "rollup_install_counts",
                              "rollup_weekly_names",
                              "rollup_monthly_names",
                              "rollup_weekly_platform",
                              "rollup_monthly_platform",
                              "rollup_weekly_duration",
                              "rollup_monthly_duration",
                              "rollup_daily_name_histogram",
                              "rollup_weekly_name_histogram",
                              "rollup_monthly_name_histogram"}) {
        const auto count = conn.exec(std::string("SELECT count(*) FROM ") + table);
        const auto bytes = conn.exec(
            "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE oid = $1::regclass"
            " OR oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass)",
            {table});
        fmt::print("{:<28} {:>12} {:>10.0f}\n", table, count.value(0, 0),
                   std::stod(std::string(bytes.value(0, 0))) / (1 << 20));
    }
}

/// Folds the shards of every period that had been over for a day by the data's last day, as a
/// collector's hourly housekeeping keeps them (collector/src/shard_folding.cpp; a no-op on a data
/// set folded before).
void fold_closed_periods(Connection& conn, const std::string& end_day, int days) {
    const Clock::time_point start = Clock::now();
    const auto range = conn.exec("SELECT $1::date - DATE '1970-01-01'", {end_day});
    const std::int64_t end = std::stoll(std::string(range.value(0, 0)));
    const std::int64_t folded = tk::collector::fold_rollup_shards(conn, kTool, end - days - 31, end - 2);
    fmt::print("folded {} rollup shard rows of the periods over for a day or more in {:.1f} s\n", folded,
               std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_query: the dashboard's /v1/query questions over synthetic events, rollups vs raw SQL"};
    Options options;
    app.add_option("--events", options.events, "synthetic events to load")->capture_default_str();
    app.add_option("--installs", options.installs, "installs over the whole period")->capture_default_str();
    app.add_option("--days", options.days, "days of events, ending today (395: 13 months)")->capture_default_str();
    app.add_option("--runs", options.runs, "API requests per question and range, at most (p50/p95 over them)")
        ->capture_default_str();
    app.add_option("--raw-runs", options.raw_runs, "raw SQL runs per question over 30 days")->capture_default_str();
    app.add_option("--long-raw-runs", options.long_raw_runs, "raw SQL runs per question over the whole period")
        ->capture_default_str();
    app.add_option("--budget", options.budget_seconds,
                   "seconds of API requests per question and range: fewer than --runs (at least 3) when slower")
        ->capture_default_str();
    app.add_option("--load-connections", options.load_connections, "connections loading days in parallel")
        ->capture_default_str();
    app.add_option("--reuse", options.reuse,
                   "keep the PostgreSQL cluster in this directory and reuse its data set when it has the same "
                   "--events/--installs/--days (the load is paid once)");
    app.add_option("--tz", options.tz,
                   "time zone of the /v1/query questions (the raw SQL uses the same; cohorts are UTC days)")
        ->capture_default_str();
    app.add_option("--ranges", options.ranges, "30d, 13m or both")
        ->check(CLI::IsMember({"30d", "13m", "both"}))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        std::optional<PostgresCluster> postgres;
        if (options.reuse.empty()) {
            postgres.emplace();
        } else {
            postgres.emplace(std::filesystem::path(options.reuse));
        }
        const std::string collector_binary = TK_COLLECTOR_BINARY;
        const auto run_cli = [&](std::vector<std::string> args) {
            tk::test::ProcessOptions cli;
            cli.argv = {collector_binary};
            cli.argv.insert(cli.argv.end(), args.begin(), args.end());
            args.clear();
            const auto result = tk::test::run(cli, std::chrono::minutes(10));
            if (result.exit_code != 0) throw std::runtime_error("tk-collector failed: " + result.err);
            return result.out.substr(0, result.out.find_last_not_of('\n') + 1);
        };
        run_cli({"migrate", "--database-url", postgres->url(), "--log-level", "warn"});
        Connection conn(postgres->url(), unbounded_settings());

        Loaded data = loaded(conn, options);
        if (data.found) {
            fmt::print("reusing {} events ({} installs, {} days up to {}), loaded in {:.0f} s earlier\n",
                       options.events, options.installs, options.days, data.end_day, data.seconds);
        } else {
            fmt::print("loading {} events ({} installs, {} days) through the rollup statements...\n", options.events,
                       options.installs, options.days);
            std::fflush(stdout);
            data = load(conn, postgres->url(), options);
            fmt::print("loaded in {:.0f} s ({:.0f} events/s, rollups included, then VACUUM ANALYZE)\n", data.seconds,
                       options.events / data.seconds);
        }
        // Migrations again: a data set loaded by an older binary gets the newer rollups here (their
        // migrations roll up what is stored), not inside `serve`'s start-up.
        run_cli({"migrate", "--database-url", postgres->url(), "--log-level", "warn"});
        fold_closed_periods(conn, data.end_day, options.days);
        conn.exec("VACUUM ANALYZE");
        print_sizes(conn);

        const std::string token = run_cli({"tokens", "create", "--tool", kTool, "--name", "bench", "--database-url",
                                           postgres->url(), "--log-level", "warn"});
        const unsigned short port = tk::test::free_tcp_port();
        tk::test::TempDir dir("tk-bench-query-");
        tk::test::ProcessOptions serve;
        serve.argv = {collector_binary, "serve",         "--listen",         fmt::format("127.0.0.1:{}", port),
                      "--database-url", postgres->url(), "--retention-days", "0",
                      "--log-level",    "warn"};
        serve.stderr_file = dir / "collector.log";
        tk::test::ChildProcess collector(serve);
        if (!tk::test::wait_for_tcp_port(port, std::chrono::seconds(60)))
            throw std::runtime_error("collector did not start");

        // One request before the clock runs: the collector reads the time zone names once per
        // process (about 300 ms), which would otherwise land in the first question's p95.
        {
            tk::test::HttpConnection warm(port);
            warm.request(boost::beast::http::verb::get, std::string("/v1/query?tool=") + kTool + "&metric=new_installs",
                         {}, {{"Authorization", "Bearer " + token}});
        }
        const auto range =
            conn.exec("SELECT to_char($1::date - 30, 'YYYY-MM-DD'), to_char($1::date - $2::int, 'YYYY-MM-DD')",
                      {data.end_day, std::to_string(options.days)});
        fmt::print(
            "\nGET /v1/query: up to {} requests per question (at least 3, within {} s), one keep-alive "
            "connection; raw SQL {} runs over 30 days, {} over 13 months; tz={}\n",
            options.runs, options.budget_seconds, options.raw_runs, options.long_raw_runs, options.tz);
        fmt::print("{:<10} {:<34} {:<8} {:>9} {:>9} {:>10} {:>9} {:>5}\n", "range", "question", "answer", "p50 ms",
                   "p95 ms", "raw p50 ms", "raw/API", "same");
        std::vector<Row> rows;
        for (const auto& [name, from, trend] :
             {std::tuple<std::string, std::string, std::string>{"30 days", std::string(range.value(0, 0)), "day"},
              {"13 months", std::string(range.value(0, 1)), "week"}}) {
            if ((options.ranges == "30d" && name != "30 days") || (options.ranges == "13m" && name == "30 days"))
                continue;
            for (const Question& question : kQuestions) {
                rows.push_back(ask(port, conn, token, question, name, from, data.end_day, trend, options));
                print_row(rows.back());
            }
            rows.push_back(cohorts(port, conn, token, name, from, data.end_day, options));
            print_row(rows.back());
        }
        int met = 0;
        int answered = 0;
        for (const Row& row : rows) {
            met += row.api.percentile(0.95) <= 100;
            answered += row.same;
        }
        fmt::print("\n{} of {} questions answered in <= 100 ms p95; {} of {} the same as the raw SQL\n", met,
                   rows.size(), answered, rows.size());
        collector.stop();
    } catch (const std::exception& error) {
        std::cerr << "bench_query: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
