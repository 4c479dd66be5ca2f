// Tools as tenants: the `tools` table's commands, ingest's quota-gated counting insert, and
// per-tool retention. See tk/collector/tenants.hpp and docs/operations.md.
#include "tk/collector/tenants.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <stdexcept>

#include "tk/collector/database.hpp"
#include "tk/collector/ingest.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/uuid.hpp"

namespace tk::collector {

namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;

template <class T>
std::optional<T> optional_number(const Result& result, int row, int column) {
    if (result.is_null(row, column)) return std::nullopt;
    return static_cast<T>(std::stoll(std::string(result.value(row, column))));
}

/// kInsertStaging with its SELECT gated by `closed` (the quota is spent): one text for the columns.
std::string gated_insert() {
    std::string insert = detail::kInsertStaging;
    const std::string conflict = " ON CONFLICT DO NOTHING";
    const auto at = insert.find(conflict);
    if (at == std::string::npos) throw std::logic_error("kInsertStaging has no ON CONFLICT DO NOTHING");
    insert.insert(at, " WHERE NOT EXISTS (SELECT 1 FROM closed)");
    return insert;
}

/// Parameters $2.. of add/set in the order of kSettingsColumns: NULL ("") where cleared.
std::vector<std::string> change_params(const ToolChange& change) {
    auto opt_int = [](const auto& outer) -> std::string {
        if (!outer || !*outer) return "";
        return std::to_string(**outer);
    };
    return {change.tool, opt_int(change.retention_days), opt_int(change.monthly_quota),
            change.grace_percent ? std::to_string(*change.grace_percent) : "", opt_int(change.rollup_retention_days)};
}

}  // namespace

const std::string kInsertCounted =
    "WITH limits AS (SELECT monthly_quota AS quota, grace_percent AS grace FROM tools WHERE tool = $1),"
    " used AS (SELECT coalesce(sum(events), 0)::bigint AS used FROM tool_usage WHERE tool = $1 AND month = $2::date),"
    " closed AS (SELECT 1 FROM limits, used WHERE limits.quota IS NOT NULL"
    "            AND used.used * 100 >= limits.quota * (100 + limits.grace)),"
    " inserted AS (" +
    gated_insert() +
    "),"
    " counted AS (INSERT INTO tool_usage (tool, month, shard, events)"
    "   SELECT $1, $2::date, pg_backend_pid() % 8, count(*) FROM inserted HAVING count(*) > 0"
    "   ON CONFLICT (tool, month, shard) DO UPDATE SET events = tool_usage.events + excluded.events)"
    " SELECT event_id, NULL::bigint, NULL::bigint, NULL::boolean FROM inserted"
    " UNION ALL SELECT NULL::uuid, (SELECT used FROM used) + (SELECT count(*) FROM inserted),"
    "   (SELECT quota FROM limits), EXISTS (SELECT 1 FROM closed)";

tk::Result<std::optional<std::int64_t>> parse_limit(const std::string& text, std::int64_t min) {
    if (text == "none" || text == "default" || text == "forever") return std::optional<std::int64_t>{};
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return Error{fmt::format("expected a whole number or \"none\", got \"{}\"", text)};
    }
    if (value < min) return Error{fmt::format("must be at least {}, got {}", min, value)};
    return std::optional<std::int64_t>{value};
}

tk::Result<void> add_tool(Connection& conn, const ToolChange& change) {
    const Result result = conn.exec(
        "INSERT INTO tools (tool, retention_days, monthly_quota, grace_percent, rollup_retention_days)"
        " VALUES ($1, NULLIF($2, '')::int, NULLIF($3, '')::bigint, coalesce(NULLIF($4, '')::int, 0), NULLIF($5, "
        "'')::int)"
        " ON CONFLICT (tool) DO NOTHING",
        change_params(change));
    if (result.affected() == 0)
        return Error{"tool " + change.tool + " already has settings; change them with `tools set`"};
    return {};
}

tk::Result<void> set_tool(Connection& conn, const ToolChange& change) {
    // $6..$9: whether each setting was given (a NULL value alone cannot say "leave it").
    auto params = change_params(change);
    for (const bool given : {change.retention_days.has_value(), change.monthly_quota.has_value(),
                             change.grace_percent.has_value(), change.rollup_retention_days.has_value()}) {
        params.push_back(given ? "t" : "f");
    }
    const Result result = conn.exec(
        "UPDATE tools SET"
        " retention_days = CASE WHEN $6::bool THEN NULLIF($2, '')::int ELSE retention_days END,"
        " monthly_quota = CASE WHEN $7::bool THEN NULLIF($3, '')::bigint ELSE monthly_quota END,"
        " grace_percent = CASE WHEN $8::bool THEN NULLIF($4, '')::int ELSE grace_percent END,"
        " rollup_retention_days = CASE WHEN $9::bool THEN NULLIF($5, '')::int ELSE rollup_retention_days END,"
        " updated_at = now() WHERE tool = $1",
        params);
    if (result.affected() == 0) return Error{"tool " + change.tool + " has no settings yet; add them with `tools add`"};
    return {};
}

std::vector<ToolRow> list_tools(Connection& conn, std::int64_t now_ms) {
    const Result result = conn.exec(
        "SELECT coalesce(t.tool, u.tool), t.retention_days, t.monthly_quota, coalesce(t.grace_percent, 0),"
        " t.rollup_retention_days, coalesce(u.used, 0)"
        " FROM tools t FULL JOIN (SELECT tool, sum(events)::bigint AS used FROM tool_usage WHERE month = $1::date"
        "                         GROUP BY tool) u ON u.tool = t.tool ORDER BY 1",
        {quota_month(now_ms)});
    std::vector<ToolRow> rows;
    for (int row = 0; row < result.rows(); ++row) {
        ToolRow out;
        out.settings.tool = std::string(result.value(row, 0));
        out.settings.retention_days = optional_number<int>(result, row, 1);
        out.settings.monthly_quota = optional_number<std::int64_t>(result, row, 2);
        out.settings.grace_percent = std::stoi(std::string(result.value(row, 3)));
        out.settings.rollup_retention_days = optional_number<int>(result, row, 4);
        out.used_this_month = std::stoll(std::string(result.value(row, 5)));
        rows.push_back(std::move(out));
    }
    return rows;
}

std::string quota_month(std::int64_t now_ms) {
    const std::int64_t day = utc_month_start_ms(now_ms) / kMsPerDay;
    // Days since 1970 to a date in SQL would need a round trip; format it here instead.
    const std::time_t seconds = static_cast<std::time_t>(day * 86400);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    return fmt::format("{:04}-{:02}-01", tm.tm_year + 1900, tm.tm_mon + 1);
}

long long expire_tool_events(Connection& conn, const std::string& tool, std::int64_t cutoff_ms, int batch_rows) {
    // Each statement deletes the next `batch_rows` expired rows of the tool in primary-key (= time)
    // order, starting after the last one it deleted, and returns that id: no statement rescans what
    // an earlier one went past, and each holds its row locks only for its own few milliseconds.
    static const std::string kDeleteBatch =
        "WITH doomed AS (SELECT event_id, id_time FROM events WHERE event_id > $2::uuid AND event_id < $3::uuid"
        "                AND tool = $1 ORDER BY event_id LIMIT $4),"
        " gone AS (DELETE FROM events e USING doomed d WHERE e.event_id = d.event_id AND e.id_time = d.id_time"
        "          RETURNING e.event_id)"
        " SELECT count(*), max(event_id::text) FROM gone";
    const std::string end = tk::uuid_bytes_to_string(tk::uuid_v7_floor(cutoff_ms));
    std::string after = "00000000-0000-0000-0000-000000000000";
    long long deleted = 0;
    for (;;) {
        const Result result = conn.exec(kDeleteBatch, {tool, after, end, std::to_string(batch_rows)});
        const long long count = std::stoll(std::string(result.value(0, 0)));
        deleted += count;
        if (count < batch_rows || result.is_null(0, 1)) return deleted;
        after = std::string(result.value(0, 1));
    }
}

TenantRetention expire_per_tool(Connection& conn, std::int64_t now_ms, int batch_rows) {
    TenantRetention removed;
    const Result tools = conn.exec(
        "SELECT tool, retention_days, rollup_retention_days FROM tools"
        " WHERE retention_days IS NOT NULL OR rollup_retention_days IS NOT NULL ORDER BY tool");
    for (int row = 0; row < tools.rows(); ++row) {
        const std::string tool(tools.value(row, 0));
        if (const auto days = optional_number<std::int64_t>(tools, row, 1)) {
            const std::int64_t cutoff_ms = now_ms - *days * kMsPerDay;
            removed.events += expire_tool_events(conn, tool, cutoff_ms, batch_rows);
            // Install ids go with the raw events they came from.
            const std::string cutoff_day = std::to_string(cutoff_ms / kMsPerDay);
            removed.rollup_rows +=
                conn.exec("DELETE FROM rollup_installs_daily WHERE tool = $1 AND day < DATE '1970-01-01' + $2::int",
                          {tool, cutoff_day})
                    .affected();
            removed.rollup_rows += conn.exec(
                                           "DELETE FROM rollup_install_first_seen WHERE tool = $1"
                                           " AND last_day < DATE '1970-01-01' + $2::int",
                                           {tool, cutoff_day})
                                       .affected();
        }
        if (const auto days = optional_number<std::int64_t>(tools, row, 2)) {
            const std::int64_t cutoff_ms = now_ms - *days * kMsPerDay;
            const std::string cutoff_day = std::to_string(cutoff_ms / kMsPerDay);
            const std::string cutoff_s = std::to_string(cutoff_ms / 1000);
            for (const char* table : {"rollup_hourly", "rollup_duration"}) {
                removed.rollup_rows +=
                    conn.exec(fmt::format("DELETE FROM {} WHERE tool = $1 AND hour < to_timestamp($2::bigint)", table),
                              {tool, cutoff_s})
                        .affected();
            }
            for (const char* table : {"rollup_daily_names", "rollup_daily_platform", "rollup_daily_duration",
                                      "rollup_daily_exit_codes", "rollup_daily_name_histogram"}) {
                removed.rollup_rows += conn.exec(fmt::format("DELETE FROM {} WHERE tool = $1"
                                                             " AND day < DATE '1970-01-01' + $2::int",
                                                             table),
                                                 {tool, cutoff_day})
                                           .affected();
            }
            // Migration 009's tiers: the weeks and months that ended before the cutoff (a period
            // that straddles it keeps its row, as the install tiers do on the global retention).
            for (const char* tier : {"names", "platform", "duration", "name_histogram"}) {
                removed.rollup_rows += conn.exec(fmt::format("DELETE FROM rollup_weekly_{} WHERE tool = $1"
                                                             " AND week + 7 <= DATE '1970-01-01' + $2::int",
                                                             tier),
                                                 {tool, cutoff_day})
                                           .affected();
                removed.rollup_rows +=
                    conn.exec(fmt::format("DELETE FROM rollup_monthly_{} WHERE tool = $1"
                                          " AND month + interval '1 month' <= DATE '1970-01-01' + $2::int",
                                          tier),
                              {tool, cutoff_day})
                        .affected();
            }
        }
    }
    return removed;
}

}  // namespace tk::collector
