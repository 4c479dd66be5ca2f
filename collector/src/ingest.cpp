// Batch ingest (ingest.hpp): per-event validation, the COPY rows of a batch, the staging-table
// insert that tells accepted from duplicate events, the rollups, erasure and monthly partitions.
#include "tk/collector/ingest.hpp"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "tk/collector/batch_scan.hpp"
#include "tk/collector/database.hpp"
#include "tk/collector/platform_columns.hpp"
#include "tk/collector/tenants.hpp"
#include "tk/common/calendar.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/json.hpp"
#include "tk/common/uuid.hpp"

namespace tk::collector {

namespace {

using telemetry_kit::v1::AttributeValue;
using telemetry_kit::v1::Event;

constexpr std::int64_t kMsPerDay = 86'400'000;
constexpr std::int64_t kMaxTimestampMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

}  // namespace

namespace detail {
// The per-connection staging table: the batch is COPYed here, then moved into `events` by one
// INSERT ... SELECT. ON COMMIT DELETE ROWS empties it at the end of every batch's transaction.
const char* const kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS tk_staging ("
    " event_id uuid, id_ms bigint, tool text, tool_version text, kind smallint, name text,"
    " occurred_ms bigint, anonymous_id text, attributes jsonb, success boolean, duration_us bigint,"
    " exit_code integer, ci boolean, os text, os_version text, arch text, agent_version text,"
    " manifest_version integer, sample_rate double precision)"
    " ON COMMIT DELETE ROWS";
const char* const kCopyStaging = "COPY tk_staging FROM STDIN";
// The hourly and duration rollups' share of `rows` (a CTE of events with their columns): `count`
// (count(*), or -count(*) when erasing) added to this connection's shard of each row. Rows are
// upserted in key order, so that two collectors adding to the same rows wait for each other
// instead of deadlocking; migration 004 says why there are shards. One text for ingest and erasure,
// so that both always touch the same rows.
namespace {

// Migration 009's weekly and monthly tiers, one CTE each: `keys` grouped per ISO week (Monday) or
// calendar month of each row's `day` expression (a date), `value` summed; upserted in key order
// like the daily tables. Used by ingest (from the daily delta's arrays) and by erasure and the
// loader (from a CTE of events), so the tiers always get what the daily tables get.
struct Tier {
    const char* name;  // rollup_<period>_<name>
    const char* keys;  // the key columns after tool and the period, as named in `source`
};
constexpr Tier kTiers[] = {
    {"names", "name, kind, ok"},
    {"platform", "tool_version, os, os_version, arch, ci, ok"},
    {"duration", "bucket"},
};

std::string tier_upsert(const Tier& tier, const char* period, const std::string& source, const std::string& day,
                        const std::string& value) {
    const std::string table = fmt::format("rollup_{}ly_{}", period, tier.name);
    // Weeks by integer arithmetic on the date (1970-01-01 was a Thursday); months by date_trunc of
    // a timestamp without time zone, so the session's TimeZone plays no part.
    const std::string start = std::string(period) == "week"
                                  ? fmt::format("({0}) - ((({0}) - DATE '1970-01-01' + 3) % 7)", day)
                                  : fmt::format("date_trunc('month', ({})::timestamp)::date", day);
    return fmt::format(
        " {0}_{1} AS (INSERT INTO {2} SELECT tool, {3} AS p, {4}, pg_backend_pid() % 8, {5} FROM {6}"
        " GROUP BY tool, p, {4} ORDER BY tool, p, {4}"
        " ON CONFLICT ON CONSTRAINT {2}_pkey DO UPDATE SET events = {2}.events + EXCLUDED.events),",
        tier.name, period, table, start, tier.keys, value, source);
}

/// Migration 009's duration histograms by name of `period` (day, week or month): `value` (an
/// aggregate giving a histogram) per period and name of `source` (rows with tool, name and the date
/// `day`), merged into the stored row by tk_histogram_add().
std::string histogram_upsert(const char* period, const std::string& source, const std::string& day,
                             const std::string& value) {
    const std::string p(period);
    const std::string table = "rollup_" + std::string(p == "day" ? "dai" : p) + "ly_name_histogram";
    const std::string start = p == "day"    ? day
                              : p == "week" ? fmt::format("({0}) - ((({0}) - DATE '1970-01-01' + 3) % 7)", day)
                                            : fmt::format("date_trunc('month', ({})::timestamp)::date", day);
    return fmt::format(
        " histogram_{0} AS (INSERT INTO {1} SELECT tool, {2} AS p, name, pg_backend_pid() % 8, {3} FROM {4}"
        " GROUP BY tool, p, name ORDER BY tool, p, name"
        " ON CONFLICT ON CONSTRAINT {1}_pkey DO UPDATE SET counts = tk_histogram_add({1}.counts, EXCLUDED.counts)),",
        period, table, start, value, source);
}

/// The tiers of count_upserts()' daily tables, from `rows` (a CTE of events).
std::string tier_upserts_from_events(const std::string& rows, const std::string& count) {
    const std::string source =
        "(SELECT tool, (id_time AT TIME ZONE 'UTC')::date AS day, name, kind, tool_version, os, os_version, arch, ci,"
        " CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END::smallint AS ok,"
        " tk_duration_bucket(duration_us) AS bucket FROM " +
        rows + ") t";
    std::string sql;
    for (const Tier& tier : kTiers) {
        const bool durations = std::string(tier.name) == "duration";
        const std::string from = durations ? source + " WHERE bucket IS NOT NULL" : source;
        for (const char* period : {"week", "month"}) sql += tier_upsert(tier, period, from, "day", count);
    }
    // Histograms: the counts per day, name and bucket first, then one histogram per period and name.
    const std::string buckets =
        "(SELECT tool, (id_time AT TIME ZONE 'UTC')::date AS day, name,"
        " tk_duration_bucket(duration_us) AS bucket, " +
        count + " AS n FROM " + rows + " WHERE duration_us IS NOT NULL GROUP BY 1, 2, 3, 4) h";
    for (const char* period : {"day", "week", "month"}) {
        sql += histogram_upsert(period, buckets, "day", "tk_histogram(bucket, n)");
    }
    return sql;
}

/// The tiers from kApplyRollups' daily arrays (day numbers since 1970-01-01): a batch's daily
/// delta, already grouped by the collector, regrouped by week and month (a batch mostly holds one
/// day, so each tier upserts about as many rows as its daily table).
std::string tier_upserts_from_arrays() {
    const std::string day = "DATE '1970-01-01' + d";
    const std::string names =
        "(SELECT $1 AS tool, d, n AS name, k AS kind, s AS ok, e FROM unnest($21::int[], $22::text[], $23::smallint[],"
        " $24::smallint[], $25::bigint[]) AS r(d, n, k, s, e)) t";
    const std::string platform =
        "(SELECT $1 AS tool, d, v AS tool_version, o AS os, ov AS os_version, a AS arch, c AS ci, s AS ok, e"
        " FROM unnest($26::int[], $27::text[], $28::text[], $29::text[], $30::text[], $31::boolean[], $32::smallint[],"
        " $33::bigint[]) AS r(d, v, o, ov, a, c, s, e)) t";
    const std::string durations =
        "(SELECT $1 AS tool, d, b AS bucket, e FROM unnest($34::int[], $35::smallint[], $36::bigint[]) AS r(d, b, e)) "
        "t";
    const std::string sources[] = {names, platform, durations};
    std::string sql;
    for (std::size_t i = 0; i < std::size(kTiers); ++i) {
        for (const char* period : {"week", "month"}) sql += tier_upsert(kTiers[i], period, sources[i], day, "sum(e)");
    }
    // The batch's histograms per day and name ($37-$39, made by the collector), summed per week and month.
    const std::string histograms =
        "(SELECT $1 AS tool, d, n AS name, h::bigint[] AS h FROM unnest($37::int[], $38::text[], $39::text[])"
        " AS r(d, n, h)) t";
    for (const char* period : {"day", "week", "month"}) {
        sql += histogram_upsert(period, histograms, day, "tk_histogram_sum(h)");
    }
    return sql;
}

}  // namespace

std::string count_upserts(const std::string& rows, const std::string& count) {
    return " hourly AS (INSERT INTO rollup_hourly"
           " SELECT tool, date_trunc('hour', id_time, 'UTC') AS hour, tool_version, kind, name, os, os_version, arch,"
           " ci, CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END AS ok, pg_backend_pid() % 8, " +
           count + " FROM " + rows +
           " GROUP BY tool, hour, name, tool_version, kind, os, os_version, arch, ci, ok"
           " ORDER BY tool, hour, name, tool_version, kind, os, os_version, arch, ci, ok"
           " ON CONFLICT ON CONSTRAINT rollup_hourly_pkey DO UPDATE SET events = rollup_hourly.events + "
           "EXCLUDED.events),"
           " durations AS (INSERT INTO rollup_duration"
           " SELECT tool, date_trunc('hour', id_time, 'UTC') AS hour, name, tk_duration_bucket(duration_us) AS bucket,"
           " pg_backend_pid() % 8, " +
           count + " FROM " + rows +
           " WHERE duration_us IS NOT NULL GROUP BY tool, hour, name, bucket ORDER BY tool, hour, name, bucket"
           " ON CONFLICT ON CONSTRAINT rollup_duration_pkey DO UPDATE SET events = rollup_duration.events + "
           "EXCLUDED.events),"
           " daily_names AS (INSERT INTO rollup_daily_names"
           " SELECT tool, (id_time AT TIME ZONE 'UTC')::date AS day, name, kind,"
           " CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END AS ok, pg_backend_pid() % 8, " +
           count + " FROM " + rows +
           " GROUP BY tool, day, name, kind, ok ORDER BY tool, day, name, kind, ok"
           " ON CONFLICT ON CONSTRAINT rollup_daily_names_pkey DO UPDATE SET events = rollup_daily_names.events + "
           "EXCLUDED.events),"
           " daily_platform AS (INSERT INTO rollup_daily_platform"
           " SELECT tool, (id_time AT TIME ZONE 'UTC')::date AS day, tool_version, os, os_version, arch, ci,"
           " CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END AS ok, pg_backend_pid() % 8, " +
           count + " FROM " + rows +
           " GROUP BY tool, day, tool_version, os, os_version, arch, ci, ok"
           " ORDER BY tool, day, tool_version, os, os_version, arch, ci, ok"
           " ON CONFLICT ON CONSTRAINT rollup_daily_platform_pkey DO UPDATE SET events = rollup_daily_platform.events "
           "+ EXCLUDED.events),"
           " daily_durations AS (INSERT INTO rollup_daily_duration"
           " SELECT tool, (id_time AT TIME ZONE 'UTC')::date AS day, tk_duration_bucket(duration_us) AS bucket,"
           " pg_backend_pid() % 8, " +
           count + " FROM " + rows +
           " WHERE duration_us IS NOT NULL GROUP BY tool, day, bucket ORDER BY tool, day, bucket"
           " ON CONFLICT ON CONSTRAINT rollup_daily_duration_pkey DO UPDATE SET events = rollup_daily_duration.events "
           "+ EXCLUDED.events),"
           " exit_codes AS (INSERT INTO rollup_daily_exit_codes"
           " SELECT tool, (id_time AT TIME ZONE 'UTC')::date AS day, kind,"
           " CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END AS ok, coalesce(exit_code::text, '') AS x,"
           " pg_backend_pid() % 8, " +
           count + " FROM " + rows +
           " GROUP BY tool, day, kind, ok, x ORDER BY tool, day, kind, ok, x"
           " ON CONFLICT ON CONSTRAINT rollup_daily_exit_codes_pkey DO UPDATE SET events = "
           "rollup_daily_exit_codes.events + EXCLUDED.events)," +
           tier_upserts_from_events(rows, count);
}

// Migration 008's per-period install counts (a CTE, no trailing comma): one more for every row the CTEs `days`, `weeks`
// and `months` (each RETURNING tool and its period's start) really added, or `sign` "-" for every row erasure deleted.
// One text for ingest, the loader and erasure.
std::string install_counts_upsert(const std::string& sign) {
    return " install_counts AS (INSERT INTO rollup_install_counts"
           " SELECT tool, p, s, pg_backend_pid() % 8, " +
           sign +
           "count(*) FROM (SELECT tool, 'day' AS p, day AS s FROM days"
           " UNION ALL SELECT tool, 'week', week FROM weeks UNION ALL SELECT tool, 'month', month FROM months) c"
           " GROUP BY tool, p, s ORDER BY tool, p, s"
           " ON CONFLICT ON CONSTRAINT rollup_install_counts_pkey DO UPDATE SET installs = "
           "rollup_install_counts.installs + EXCLUDED.installs)";
}

const char* const kRollupColumns =
    "event_id, id_time, tool, tool_version, kind, name, anonymous_id, success, duration_us, exit_code, ci, os,"
    " os_version, arch";

std::string rollup_upserts(const std::string& rows) {
    return count_upserts(rows, "count(*)") +
           " days AS (INSERT INTO rollup_installs_daily"
           " SELECT DISTINCT tool, (id_time AT TIME ZONE 'UTC')::date AS day, anonymous_id FROM " +
           rows +
           " WHERE anonymous_id <> '' ORDER BY tool, day, anonymous_id ON CONFLICT DO NOTHING RETURNING tool, day),"
           " weeks AS (INSERT INTO rollup_installs_weekly"
           " SELECT DISTINCT tool, date_trunc('week', id_time AT TIME ZONE 'UTC')::date AS week, anonymous_id FROM " +
           rows +
           " WHERE anonymous_id <> '' ORDER BY tool, week, anonymous_id ON CONFLICT DO NOTHING RETURNING tool, week),"
           " months AS (INSERT INTO rollup_installs_monthly"
           " SELECT DISTINCT tool, date_trunc('month', id_time AT TIME ZONE 'UTC')::date AS month, anonymous_id FROM " +
           rows +
           " WHERE anonymous_id <> '' ORDER BY tool, month, anonymous_id ON CONFLICT DO NOTHING RETURNING tool, "
           "month)," +
           install_counts_upsert("") +
           ", installs AS (INSERT INTO rollup_install_first_seen"
           " SELECT tool, anonymous_id, min((id_time AT TIME ZONE 'UTC')::date), max((id_time AT TIME ZONE "
           "'UTC')::date)"
           " FROM " +
           rows +
           " WHERE anonymous_id <> '' GROUP BY tool, anonymous_id ORDER BY tool, anonymous_id"
           " ON CONFLICT ON CONSTRAINT rollup_install_first_seen_pkey DO UPDATE SET"
           " first_day = LEAST(rollup_install_first_seen.first_day, EXCLUDED.first_day),"
           " last_day = GREATEST(rollup_install_first_seen.last_day, EXCLUDED.last_day))";
}

}  // namespace detail

namespace {

constexpr Rejection kBadId{"bad_id", "id is not a 16-byte UUIDv7"};
constexpr Rejection kWrongTool{"wrong_tool", "tool does not match the ingest key"};
constexpr Rejection kVersionTooLong{"field_too_long", "tool_version too long"};
constexpr Rejection kNameEmpty{"name_empty", "name is empty"};
constexpr Rejection kBadSampling{"bad_sampling", "sample_rate not in (0, 1] or manifest_version too large"};
constexpr Rejection kNameTooLong{"field_too_long", "name too long"};
constexpr Rejection kAnonymousIdTooLong{"field_too_long", "anonymous_id too long"};
constexpr Rejection kTooManyAttributes{"too_many_attributes", "too many attributes"};
constexpr Rejection kBadAttributeKey{"field_too_long", "attribute key empty or too long"};
constexpr Rejection kValueTooLong{"field_too_long", "attribute string value too long"};
constexpr Rejection kNotFinite{"bad_value", "attribute number is not finite"};
constexpr Rejection kNulByte{"nul_byte", "string contains a NUL byte"};
constexpr Rejection kBadUtf8{"bad_utf8", "string is not valid UTF-8"};
constexpr Rejection kBadKind{"bad_kind", "kind out of range"};
constexpr Rejection kBadTimestamp{"bad_timestamp", "timestamp out of range"};
constexpr Rejection kFutureId{"bad_timestamp", "id time is more than a day in the future"};
constexpr Rejection kExpired{"expired", "event is older than the retention period"};

}  // namespace

bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
    while (i < text.size()) {
        const unsigned char c = byte(i);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code = 0;
        if ((c & 0xe0) == 0xc0) {
            length = 2;
            code = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            length = 3;
            code = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            length = 4;
            code = c & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            if ((byte(i + k) & 0xc0) != 0x80) return false;
            code = (code << 6) | (byte(i + k) & 0x3f);
        }
        static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
        i += length;
    }
    return true;
}

namespace {

/// NUL and UTF-8 checks for a string that will become PostgreSQL text.
std::optional<Rejection> check_text(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) return kNulByte;
    if (!valid_utf8(text)) return kBadUtf8;
    return std::nullopt;
}

/// UTC year and month of a Unix time in ms.
std::pair<int, int> year_month(std::int64_t unix_ms) {
    const auto date = tk::calendar::civil_from_days(tk::calendar::day_of_unix_ms(unix_ms));
    return {date.year, date.month};
}

/// Unix ms at the start of (year, month) UTC.
std::int64_t month_start_ms(int year, int month) { return tk::calendar::days_from_civil(year, month, 1) * kMsPerDay; }

// Partition names and bounds are made from integers only, never from request data.
std::string partition_name(int year, int month) { return fmt::format("events_p{:04}{:02}", year, month); }

void append_number(std::string& out, long long value) { fmt::format_to(std::back_inserter(out), "{}", value); }

/// The event's sample rate (1 when the agent did not sample it), exact in COPY's text form.
void append_sample_rate(std::string& out, const telemetry_kit::v1::Event& event) {
    fmt::format_to(std::back_inserter(out), "{}", event.has_sample_rate() ? event.sample_rate() : 1.0);
}

/// Runs partition DDL with a short lock timeout. CREATE ... PARTITION OF and DROP TABLE need an
/// exclusive lock on `events`; waiting for it behind a long analytics query would queue every
/// insert behind the DDL's lock request, so the DDL gives up after kDdlLockTimeout instead (and
/// is retried: by the hourly housekeeping, or by the next batch, which got a 503 meanwhile).
void exec_ddl(Connection& conn, const std::string& sql) {
    static constexpr const char* kDdlLockTimeout = "1s";
    try {
        conn.exec(fmt::format("BEGIN; SET LOCAL lock_timeout = '{}'; {}; COMMIT", kDdlLockTimeout, sql));
    } catch (const DatabaseError&) {
        if (conn.healthy()) {
            try {
                conn.exec("ROLLBACK");
            } catch (const DatabaseError&) {
            }
        }
        throw;
    }
}

}  // namespace

namespace detail {

void append_copy_text(std::string& out, std::string_view text) {
    for (const char c : text) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            default: out.push_back(c);
        }
    }
}

std::string attributes_json(const Event& event) {
    std::string json = "{";
    bool first = true;
    for (const auto& [key, value] : event.attributes()) {
        if (!first) json.push_back(',');
        first = false;
        tk::json::append_string(json, key);
        json.push_back(':');
        switch (value.value_case()) {
            case AttributeValue::kStringValue: tk::json::append_string(json, value.string_value()); break;
            case AttributeValue::kIntValue: append_number(json, value.int_value()); break;
            case AttributeValue::kDoubleValue:
                fmt::format_to(std::back_inserter(json), "{}", value.double_value());
                break;
            case AttributeValue::kBoolValue: json += value.bool_value() ? "true" : "false"; break;
            default: json += "null";
        }
    }
    json.push_back('}');
    return json;
}

// Moves the staged events into `events`; RETURNING names the rows really inserted (a duplicate
// returns nothing), and only those are added to the rollups (kApplyRollups, same transaction), so
// that a rollup never counts an event twice and never misses one that is stored. The id times are
// exact in float8 (ms / 1000 rounds to the same microsecond), and float8 division costs a tenth of
// numeric division per row.
const char* const kInsertStaging =
    "INSERT INTO events (event_id, id_time, tool, tool_version, kind, name, occurred_at, received_at,"
    " anonymous_id, attributes, success, duration_us, exit_code, ci, os, os_version, arch, agent_version,"
    " manifest_version, sample_rate)"
    " SELECT event_id, to_timestamp(id_ms / 1000.0::float8), tool, tool_version, kind, name,"
    " to_timestamp(occurred_ms / 1000.0::float8), now(), anonymous_id, attributes, success, duration_us,"
    " exit_code, ci, os, os_version, arch, agent_version, manifest_version, sample_rate"
    " FROM tk_staging ON CONFLICT DO NOTHING"
    " RETURNING event_id";

// A batch's rollup rows, aggregated by the collector (rollup_delta()), added in one statement:
// one row per distinct key instead of PostgreSQL grouping every event (measured in
// bench_collector: the grouping in SQL cost bare PostgreSQL 37% of its insert rate). Keys are
// upserted in the same order as count_upserts() so that concurrent batches and erasures wait
// for each other instead of deadlocking. $1 is the tool; the arrays are rollup_params()'.
static const std::string kApplyRollupsText =
    std::string(
        "WITH hourly AS (INSERT INTO rollup_hourly"
        " SELECT $1, to_timestamp(h), v, k, n, o, ov, a, c, s, pg_backend_pid() % 8, e"
        " FROM unnest($2::bigint[], $3::text[], $4::smallint[], $5::text[], $6::text[], $7::text[], $8::text[],"
        " $9::boolean[], $10::smallint[], $11::bigint[]) AS r(h, v, k, n, o, ov, a, c, s, e)"
        " ORDER BY 1, 2, 5, 3, 4, 6, 7, 8, 9, 10"
        " ON CONFLICT ON CONSTRAINT rollup_hourly_pkey DO UPDATE SET events = rollup_hourly.events + EXCLUDED.events),"
        " durations AS (INSERT INTO rollup_duration"
        " SELECT $1, to_timestamp(h), n, b, pg_backend_pid() % 8, e"
        " FROM unnest($12::bigint[], $13::text[], $14::smallint[], $15::bigint[]) AS r(h, n, b, e) ORDER BY 1, 2, 3, 4"
        " ON CONFLICT ON CONSTRAINT rollup_duration_pkey DO UPDATE SET events = rollup_duration.events + "
        "EXCLUDED.events),"
        " daily_names AS (INSERT INTO rollup_daily_names"
        " SELECT $1, DATE '1970-01-01' + d, n, k, s, pg_backend_pid() % 8, e"
        " FROM unnest($21::int[], $22::text[], $23::smallint[], $24::smallint[], $25::bigint[]) AS r(d, n, k, s, e)"
        " ORDER BY 1, 2, 3, 4, 5"
        " ON CONFLICT ON CONSTRAINT rollup_daily_names_pkey DO UPDATE SET events = rollup_daily_names.events + "
        "EXCLUDED.events),"
        " daily_platform AS (INSERT INTO rollup_daily_platform"
        " SELECT $1, DATE '1970-01-01' + d, v, o, ov, a, c, s, pg_backend_pid() % 8, e"
        " FROM unnest($26::int[], $27::text[], $28::text[], $29::text[], $30::text[], $31::boolean[], $32::smallint[],"
        " $33::bigint[]) AS r(d, v, o, ov, a, c, s, e) ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"
        " ON CONFLICT ON CONSTRAINT rollup_daily_platform_pkey DO UPDATE SET events = rollup_daily_platform.events + "
        "EXCLUDED.events),"
        " daily_durations AS (INSERT INTO rollup_daily_duration"
        " SELECT $1, DATE '1970-01-01' + d, b, pg_backend_pid() % 8, e"
        " FROM unnest($34::int[], $35::smallint[], $36::bigint[]) AS r(d, b, e) ORDER BY 1, 2, 3"
        " ON CONFLICT ON CONSTRAINT rollup_daily_duration_pkey DO UPDATE SET events = rollup_daily_duration.events + "
        "EXCLUDED.events),"
        " exit_codes AS (INSERT INTO rollup_daily_exit_codes"
        " SELECT $1, DATE '1970-01-01' + d, k, s, x, pg_backend_pid() % 8, e"
        " FROM unnest($40::int[], $41::smallint[], $42::smallint[], $43::text[], $44::bigint[]) AS r(d, k, s, x, e)"
        " ORDER BY 1, 2, 3, 4, 5"
        " ON CONFLICT ON CONSTRAINT rollup_daily_exit_codes_pkey DO UPDATE SET events = rollup_daily_exit_codes.events "
        "+ EXCLUDED.events),") +
    tier_upserts_from_arrays() +
    std::string(
        " days AS (INSERT INTO rollup_installs_daily"
        " SELECT $1, DATE '1970-01-01' + d, i FROM unnest($16::int[], $17::text[]) AS r(d, i) ORDER BY 1, 2, 3"
        " ON CONFLICT DO NOTHING RETURNING tool, day),"
        " weeks AS (INSERT INTO rollup_installs_weekly"
        " SELECT $1, DATE '1970-01-01' + w, i FROM unnest($45::int[], $46::text[]) AS r(w, i) ORDER BY 1, 2, 3"
        " ON CONFLICT DO NOTHING RETURNING tool, week),"
        " months AS (INSERT INTO rollup_installs_monthly"
        " SELECT $1, DATE '1970-01-01' + m, i FROM unnest($47::int[], $48::text[]) AS r(m, i) ORDER BY 1, 2, 3"
        " ON CONFLICT DO NOTHING RETURNING tool, month),") +
    install_counts_upsert("") +
    " INSERT INTO rollup_install_first_seen"
    " SELECT $1, i, DATE '1970-01-01' + f, DATE '1970-01-01' + l FROM unnest($18::text[], $19::int[], $20::int[])"
    " AS r(i, f, l) ORDER BY 1, 2"
    " ON CONFLICT ON CONSTRAINT rollup_install_first_seen_pkey DO UPDATE SET"
    " first_day = LEAST(rollup_install_first_seen.first_day, EXCLUDED.first_day),"
    " last_day = GREATEST(rollup_install_first_seen.last_day, EXCLUDED.last_day)";
const char* const kApplyRollups = kApplyRollupsText.c_str();

int duration_bucket(std::int64_t duration_us) {
    if (duration_us <= 0) return 0;
    // The float8 expression of tk_duration_bucket() (migration 004), operation for operation, so
    // that ingest and the SQL that erases (and the tests that check) pick the same bucket.
    return 1 + static_cast<int>(std::floor(std::log(static_cast<double>(duration_us)) / std::log(2.0) * 8));
}

RollupDelta rollup_delta(const std::vector<const Event*>& inserted) {
    constexpr std::int64_t kMsPerHour = 3'600'000;
    RollupDelta delta;
    for (const Event* event : inserted) {
        const std::int64_t id_ms = tk::uuid_v7_unix_ms(event->id());
        const std::int64_t hour_s = id_ms / kMsPerHour * 3600;
        const int success = event->has_success() ? (event->success() ? 1 : 0) : -1;
        ++delta.hourly[{hour_s, event->name(), event->tool_version(), event->kind(), event->os(), event->os_version(),
                        event->arch(), event->ci(), success}];
        const std::int64_t day = id_ms / kMsPerDay;
        ++delta.daily_names[{day, event->name(), event->kind(), success}];
        ++delta.daily_platform[{day, event->tool_version(), event->os(), event->os_version(), event->arch(),
                                event->ci(), success}];
        if (event->has_duration_us()) {
            const int bucket = duration_bucket(event->duration_us());
            ++delta.durations[{hour_s, event->name(), bucket}];
            ++delta.daily_durations[{day, bucket}];
            ++delta.daily_name_durations[{day, event->name(), bucket}];
        }
        ++delta.daily_exit_codes[{
            day, event->kind(), success,
            event->has_exit_code() ? std::optional<std::int32_t>(event->exit_code()) : std::nullopt}];
        if (event->anonymous_id().empty()) continue;
        delta.days.emplace(day, event->anonymous_id());
        delta.weeks.emplace(tk::calendar::week_start(day), event->anonymous_id());
        delta.months.emplace(tk::calendar::month_start(day), event->anonymous_id());
        const auto [seen, added] = delta.installs.try_emplace(event->anonymous_id(), day, day);
        if (!added) {
            seen->second.first = std::min(seen->second.first, day);
            seen->second.second = std::max(seen->second.second, day);
        }
    }
    return delta;
}

namespace {

/// PostgreSQL array literals, one column at a time: every text element quoted, so that commas,
/// braces, quotes and backslashes in a name stay inside it.
class ArrayText {
public:
    void add(std::string_view text) {
        open();
        out_.push_back('"');
        for (const char c : text) {
            if (c == '"' || c == '\\') out_.push_back('\\');
            out_.push_back(c);
        }
        out_.push_back('"');
    }
    void add(std::int64_t number) {
        open();
        append_number(out_, number);
    }
    void add(bool value) {
        open();
        out_ += value ? "t" : "f";
    }
    std::string done() { return out_.empty() ? "{}" : out_ + "}"; }

private:
    void open() { out_.push_back(out_.empty() ? '{' : ','); }
    std::string out_;
};

}  // namespace

std::vector<std::string> rollup_params(std::string_view tool, const RollupDelta& delta) {
    std::vector<ArrayText> columns(47);
    for (const auto& [key, events] : delta.hourly) {
        const auto& [hour, name, version, kind, os, os_version, arch, ci, success] = key;
        columns[0].add(hour);
        columns[1].add(version);
        columns[2].add(static_cast<std::int64_t>(kind));
        columns[3].add(name);
        columns[4].add(os);
        columns[5].add(os_version);
        columns[6].add(arch);
        columns[7].add(ci);
        columns[8].add(static_cast<std::int64_t>(success));
        columns[9].add(events);
    }
    for (const auto& [key, events] : delta.durations) {
        columns[10].add(std::get<0>(key));
        columns[11].add(std::get<1>(key));
        columns[12].add(static_cast<std::int64_t>(std::get<2>(key)));
        columns[13].add(events);
    }
    for (const auto& [day, install] : delta.days) {
        columns[14].add(day);
        columns[15].add(install);
    }
    for (const auto& [install, days] : delta.installs) {
        columns[16].add(install);
        columns[17].add(days.first);
        columns[18].add(days.second);
    }
    for (const auto& [key, events] : delta.daily_names) {
        const auto& [day, name, kind, success] = key;
        columns[19].add(day);
        columns[20].add(name);
        columns[21].add(static_cast<std::int64_t>(kind));
        columns[22].add(static_cast<std::int64_t>(success));
        columns[23].add(events);
    }
    for (const auto& [key, events] : delta.daily_platform) {
        const auto& [day, version, os, os_version, arch, ci, success] = key;
        columns[24].add(day);
        columns[25].add(version);
        columns[26].add(os);
        columns[27].add(os_version);
        columns[28].add(arch);
        columns[29].add(ci);
        columns[30].add(static_cast<std::int64_t>(success));
        columns[31].add(events);
    }
    for (const auto& [key, events] : delta.daily_durations) {
        columns[32].add(key.first);
        columns[33].add(static_cast<std::int64_t>(key.second));
        columns[34].add(events);
    }
    for (const auto& [key, events] : delta.daily_exit_codes) {
        const auto& [day, kind, success, exit_code] = key;
        columns[38].add(day);
        columns[39].add(static_cast<std::int64_t>(kind));
        columns[40].add(static_cast<std::int64_t>(success));
        columns[41].add(exit_code ? std::to_string(*exit_code) : std::string());
        columns[42].add(events);
    }
    for (const auto& [week, install] : delta.weeks) {
        columns[43].add(week);
        columns[44].add(install);
    }
    for (const auto& [month, install] : delta.months) {
        columns[45].add(month);
        columns[46].add(install);
    }
    // Migration 009: one duration histogram per day and name, from the same counts.
    for (auto at = delta.daily_name_durations.begin(); at != delta.daily_name_durations.end();) {
        const auto& [day, name, first_bucket] = at->first;
        std::string histogram;
        int next = first_bucket;
        for (;
             at != delta.daily_name_durations.end() && std::get<0>(at->first) == day && std::get<1>(at->first) == name;
             ++at) {
            for (; next < std::get<2>(at->first); ++next) histogram += ",0";  // buckets between: none
            fmt::format_to(std::back_inserter(histogram), ",{}", at->second);
            ++next;
        }
        columns[35].add(day);
        columns[36].add(name);
        columns[37].add(fmt::format("[{}:{}]={{{}}}", first_bucket, next - 1, histogram.substr(1)));
    }
    std::vector<std::string> params{std::string(tool)};
    for (auto& column : columns) params.push_back(column.done());
    return params;
}

}  // namespace detail

std::optional<std::string> parse_batch(const std::string& body, bool json, std::size_t max_events,
                                       telemetry_kit::v1::Batch& batch) {
    std::string converted;
    if (json) {
        if (auto error = batch_json_to_wire(body, converted)) return error;
    }
    const std::string& wire = json ? converted : body;
    BatchShape shape;
    if (auto error = scan_batch(wire, max_events, shape)) return error;
    return parse_scanned_batch(wire, json, batch);
}

std::optional<std::string> parse_scanned_batch(const std::string& wire, bool json, telemetry_kit::v1::Batch& batch) {
    if (!batch.ParseFromString(wire)) {
        return json ? std::string("malformed JSON batch: a string field is not valid UTF-8\n")
                    : std::string("malformed protobuf batch (or a string field that is not valid UTF-8)\n");
    }
    return std::nullopt;
}

TimeWindow time_window_now(int retention_days) {
    const std::int64_t now_ms = tk::now_unix_ms();
    return {retention_days > 0 ? now_ms - retention_days * kMsPerDay : 0, now_ms + kMsPerDay};
}

std::optional<Rejection> validate_event(const Event& event, std::string_view key_tool, const FieldLimits& limits,
                                        const TimeWindow& window) {
    const std::string& id = event.id();
    if (id.size() != 16 || (static_cast<unsigned char>(id[6]) >> 4) != 7) return kBadId;
    if (event.tool() != key_tool) return kWrongTool;
    if (event.tool_version().size() > limits.tool_version) return kVersionTooLong;
    if (event.name().empty()) return kNameEmpty;
    if (event.name().size() > limits.name) return kNameTooLong;
    if (event.anonymous_id().size() > limits.anonymous_id) return kAnonymousIdTooLong;
    if (event.kind() < 0 || event.kind() > 32767) return kBadKind;
    if (event.timestamp_unix_ms() < 0 || event.timestamp_unix_ms() > kMaxTimestampMs) return kBadTimestamp;
    const std::int64_t id_ms = tk::uuid_v7_unix_ms(id);
    if (id_ms > window.newest_ms) return kFutureId;
    if (id_ms < window.oldest_ms) return kExpired;
    for (const std::string* text : {&event.tool_version(), &event.name(), &event.anonymous_id()}) {
        if (auto rejection = check_text(*text)) return rejection;
    }
    if (auto rejection = check_platform(event)) return rejection;
    if ((event.has_sample_rate() && !(event.sample_rate() > 0.0 && event.sample_rate() <= 1.0)) ||
        event.manifest_version() > 0x7FFFFFFFu) {
        return kBadSampling;
    }
    if (event.attributes_size() > static_cast<int>(limits.attributes)) return kTooManyAttributes;
    for (const auto& [key, value] : event.attributes()) {
        if (key.empty() || key.size() > limits.attribute_key) return kBadAttributeKey;
        if (auto rejection = check_text(key)) return rejection;
        if (value.value_case() == AttributeValue::kStringValue) {
            if (value.string_value().size() > limits.string_value) return kValueTooLong;
            if (auto rejection = check_text(value.string_value())) return rejection;
        } else if (value.value_case() == AttributeValue::kDoubleValue && !std::isfinite(value.double_value())) {
            return kNotFinite;
        }
    }
    return std::nullopt;
}

std::set<int> partition_months(const std::vector<std::int64_t>& id_times_ms, int retention_days, std::int64_t now_ms) {
    const std::int64_t oldest_ms = retention_days > 0 ? now_ms - retention_days * kMsPerDay : INT64_MIN;
    const std::int64_t newest_ms = now_ms + kPartitionsAheadDays * kMsPerDay;
    std::set<int> months;
    for (const std::int64_t ms : id_times_ms) {
        const auto [year, month] = year_month(ms);
        const std::int64_t start_ms = month_start_ms(year, month);
        const std::int64_t end_ms = month == 12 ? month_start_ms(year + 1, 1) : month_start_ms(year, month + 1);
        if (end_ms <= oldest_ms || start_ms > newest_ms) continue;  // outside the window: never made
        months.insert(year * 12 + month - 1);
    }
    return months;
}

void PartitionCache::ensure(Connection& conn, const std::vector<std::int64_t>& id_times_ms, int retention_days) {
    const std::int64_t now_ms = tk::now_unix_ms();
    std::set<int> wanted = partition_months(id_times_ms, retention_days, now_ms);
    {
        std::lock_guard lock(mutex_);
        for (const int known : months_) wanted.erase(known);
    }
    for (const int key : wanted) {
        const int year = key / 12;
        const int month = key % 12 + 1;
        const int next_year = month == 12 ? year + 1 : year;
        const int next_month = month == 12 ? 1 : month + 1;
        const std::string sql = fmt::format(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF events FOR VALUES FROM ('{:04}-{:02}-01 00:00:00+00')"
            " TO ('{:04}-{:02}-01 00:00:00+00')",
            partition_name(year, month), year, month, next_year, next_month);
        try {
            exec_ddl(conn, sql);
        } catch (const DatabaseError& error) {
            // Another collector may have made it at the same moment (duplicate catalog entry);
            // anything else is a real failure.
            if (error.connection_lost() || (error.sqlstate() != "23505" && error.sqlstate() != "42P07")) throw;
        }
        std::lock_guard lock(mutex_);
        months_.insert(key);
    }
}

void PartitionCache::clear() {
    std::lock_guard lock(mutex_);
    months_.clear();
}

std::vector<std::string> PartitionCache::drop_expired(Connection& conn, int retention_days) {
    std::vector<std::string> dropped;
    if (retention_days <= 0) return dropped;
    const std::int64_t cutoff_ms = time_window_now(retention_days).oldest_ms;
    const Result partitions = conn.exec(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass");
    for (int row = 0; row < partitions.rows(); ++row) {
        int year = 0;
        int month = 0;
        const std::string name(partitions.value(row, 0));
        if (std::sscanf(name.c_str(), "events_p%4d%2d", &year, &month) != 2 || month < 1 || month > 12) continue;
        const std::int64_t end_ms = month == 12 ? month_start_ms(year + 1, 1) : month_start_ms(year, month + 1);
        if (end_ms > cutoff_ms) continue;
        exec_ddl(conn, "DROP TABLE IF EXISTS " + partition_name(year, month));
        dropped.push_back(partition_name(year, month));
        std::lock_guard lock(mutex_);
        months_.erase(year * 12 + month - 1);
    }
    // Install ids leave with the events they came from; the counts without ids (rollup_hourly,
    // rollup_duration) stay, so that long-range trends outlive the raw events (docs/query.md).
    const std::string cutoff_day = std::to_string(cutoff_ms / kMsPerDay);
    conn.exec("DELETE FROM rollup_installs_daily WHERE day < DATE '1970-01-01' + $1::int", {cutoff_day});
    conn.exec("DELETE FROM rollup_install_first_seen WHERE last_day < DATE '1970-01-01' + $1::int", {cutoff_day});
    // Weeks and months that ended before the cutoff (their per-period counts stay, like the days').
    conn.exec("DELETE FROM rollup_installs_weekly WHERE week + 7 <= DATE '1970-01-01' + $1::int", {cutoff_day});
    conn.exec("DELETE FROM rollup_installs_monthly WHERE month + interval '1 month' <= DATE '1970-01-01' + $1::int",
              {cutoff_day});
    return dropped;
}

void detail::append_copy_row(std::string& rows, const Event& event) {
    const std::int64_t id_ms = tk::uuid_v7_unix_ms(event.id());
    rows += tk::uuid_bytes_to_string(event.id());
    rows.push_back('\t');
    append_number(rows, id_ms);
    rows.push_back('\t');
    detail::append_copy_text(rows, event.tool());
    rows.push_back('\t');
    detail::append_copy_text(rows, event.tool_version());
    rows.push_back('\t');
    append_number(rows, event.kind());
    rows.push_back('\t');
    detail::append_copy_text(rows, event.name());
    rows.push_back('\t');
    append_number(rows, event.timestamp_unix_ms() != 0 ? event.timestamp_unix_ms() : id_ms);
    rows.push_back('\t');
    detail::append_copy_text(rows, event.anonymous_id());
    rows.push_back('\t');
    detail::append_copy_text(rows, detail::attributes_json(event));
    rows.push_back('\t');
    if (event.has_success())
        rows += event.success() ? "t" : "f";
    else
        rows += "\\N";
    rows.push_back('\t');
    if (event.has_duration_us())
        append_number(rows, event.duration_us());
    else
        rows += "\\N";
    rows.push_back('\t');
    if (event.has_exit_code())
        append_number(rows, event.exit_code());
    else
        rows += "\\N";
    rows.push_back('\t');
    rows += event.ci() ? "t" : "f";
    append_platform_columns(rows, event);
    rows.push_back('\t');
    append_number(rows, event.manifest_version());
    rows.push_back('\t');
    append_sample_rate(rows, event);
    rows.push_back('\n');
}

namespace {

/// COPYs the staged events into the staging table in pieces of about kCopyChunk bytes: escaping
/// can make a row many times its wire size, and the rows of a whole batch need not be held at once.
void copy_rows(Connection& conn, const std::vector<const Event*>& staged) {
    constexpr std::size_t kCopyChunk = 1 << 20;
    std::string rows;
    rows.reserve(kCopyChunk + 64 * 1024);
    conn.copy_begin(detail::kCopyStaging);
    for (const Event* event : staged) {
        detail::append_copy_row(rows, *event);
        if (rows.size() >= kCopyChunk) {
            conn.copy_put(rows);
            rows.clear();
        }
    }
    conn.copy_put(rows);
    conn.copy_end();
}

}  // namespace

namespace {

/// Adds the events of `staged` that were really inserted (their ids in `inserted`) to the rollups,
/// inside the caller's transaction.
void add_to_rollups(Connection& conn, std::string_view tool, const std::vector<const Event*>& staged,
                    const std::unordered_set<std::string>& inserted) {
    std::vector<const Event*> stored;
    stored.reserve(inserted.size());
    for (const Event* event : staged) {
        if (inserted.count(event->id())) stored.push_back(event);
    }
    if (stored.empty()) return;
    // Prepared once per connection: a statement of a dozen CTEs is parsed and planned once, not
    // for every batch (docs/benchmarks.md, ingest with rollups).
    conn.exec_prepared("tk_apply_rollups", detail::kApplyRollups,
                       detail::rollup_params(tool, detail::rollup_delta(stored)));
}

}  // namespace

StoreOutcome store_batch(Connection& conn, PartitionCache& partitions, const telemetry_kit::v1::Batch& batch,
                         std::string_view key_tool, const FieldLimits& limits, int retention_days) {
    StoreOutcome outcome;
    auto& ack = outcome.ack;
    const TimeWindow window = time_window_now(retention_days);
    std::map<const char*, std::uint64_t> rejected_by_code;

    std::unordered_set<std::string_view> seen;
    std::vector<const Event*> staged;  // in COPY order
    std::vector<std::int64_t> id_times;
    for (const Event& event : batch.events()) {
        if (auto rejection = validate_event(event, key_tool, limits, window)) {
            auto* rejected = ack.add_rejected();
            rejected->set_id(event.id());
            rejected->set_reason(rejection->message);
            ++rejected_by_code[rejection->code];
            continue;
        }
        if (!seen.insert(event.id()).second) {  // the same id twice in one batch
            ack.add_duplicate(event.id());
            continue;
        }
        staged.push_back(&event);
        id_times.push_back(tk::uuid_v7_unix_ms(event.id()));
    }
    for (const auto& [code, count] : rejected_by_code) outcome.rejected_by_code.emplace_back(code, count);
    if (staged.empty()) return outcome;

    if (!conn.staging_ready) {
        conn.exec(detail::kCreateStaging);
        conn.staging_ready = true;
    }
    partitions.ensure(conn, id_times, retention_days);

    std::unordered_set<std::string> inserted;
    conn.exec("BEGIN");
    try {
        copy_rows(conn, staged);
        // The quota gate and the usage counter ride in the insert itself (tenants.hpp): no extra round trip.
        const std::int64_t now_ms = tk::wall_clock_ms();
        const Result result =
            conn.exec_prepared("tk_insert_counted", kInsertCounted, {std::string(key_tool), quota_month(now_ms)});
        inserted.reserve(static_cast<std::size_t>(result.rows()));
        bool refused = false;
        for (int row = 0; row < result.rows(); ++row) {
            if (result.is_null(row, 0)) {  // the summary row
                outcome.used_this_month = std::stoll(std::string(result.value(row, 1)));
                if (!result.is_null(row, 2)) outcome.monthly_quota = std::stoll(std::string(result.value(row, 2)));
                refused = result.value(row, 3) == "t";
            } else if (auto id = tk::parse_uuid(result.value(row, 0))) {
                inserted.insert(tk::to_bytes(*id));
            }
        }
        if (refused) {
            conn.exec("COMMIT");  // nothing was written; ends the transaction
            auto* exceeded = ack.mutable_quota_exceeded();
            exceeded->set_reset_unix_ms(tk::utc_next_month_start_ms(now_ms));
            exceeded->set_quota(static_cast<std::uint64_t>(outcome.monthly_quota.value_or(0)));
            exceeded->set_used(static_cast<std::uint64_t>(*outcome.used_this_month));
            return outcome;
        }
        add_to_rollups(conn, key_tool, staged, inserted);
        conn.exec("COMMIT");
    } catch (const DatabaseError& error) {
        if (conn.healthy()) {
            try {
                conn.exec("ROLLBACK");
            } catch (const DatabaseError&) {
            }
        }
        if (error.sqlstate() == "23514") partitions.clear();  // a partition vanished under us
        throw;
    }
    for (const Event* event : staged) {
        if (inserted.count(event->id())) {
            ack.add_accepted(event->id());
        } else {
            ack.add_duplicate(event->id());
        }
    }
    return outcome;
}

// Erasure deletes the subject's events and, in the same statement, adds their negative counts to
// the hourly rollups (in this connection's shard) and forgets the install's days: the rollups are
// what they would be had the events never arrived.
long long erase_subject(Connection& conn, const std::string& tool, const std::string& anonymous_id) {
    static const std::string kErase =
        "WITH deleted AS (DELETE FROM events WHERE tool = $1 AND anonymous_id = $2"
        " RETURNING id_time, tool, tool_version, kind, name, success, duration_us, exit_code, ci, os, os_version, "
        "arch)," +
        detail::count_upserts("deleted", "-count(*)") +
        " days AS (DELETE FROM rollup_installs_daily WHERE tool = $1 AND anonymous_id = $2 RETURNING tool, day),"
        " weeks AS (DELETE FROM rollup_installs_weekly WHERE tool = $1 AND anonymous_id = $2 RETURNING tool, week),"
        " months AS (DELETE FROM rollup_installs_monthly WHERE tool = $1 AND anonymous_id = $2 RETURNING tool, "
        "month)," +
        detail::install_counts_upsert("-") +
        ", first_seen AS (DELETE FROM rollup_install_first_seen WHERE tool = $1 AND anonymous_id = $2)"
        " SELECT count(*) FROM deleted";
    return std::stoll(std::string(conn.exec(kErase, {tool, anonymous_id}).value(0, 0)));
}

}  // namespace tk::collector
