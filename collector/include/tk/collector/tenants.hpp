#pragma once
/// Tools as tenants (migration 006, docs/operations.md "Tools as tenants"): per-tool retention,
/// monthly quotas with a grace percentage, and the usage counter ingest keeps. A tool without a
/// row in `tools` keeps the collector's global behaviour.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tk/common/result.hpp"

namespace tk::collector {

class Connection;

/// One row of `tools`. Unset optionals are SQL NULL: the global behaviour for that setting.
struct ToolSettings {
    std::string tool;
    std::optional<int> retention_days;          ///< raw events; nullopt: the global --retention-days
    std::optional<std::int64_t> monthly_quota;  ///< events per UTC calendar month; nullopt: none
    int grace_percent = 0;
    std::optional<int> rollup_retention_days;  ///< nullopt: rollups kept for ever
};

/// What `tools add|set` change: only the settings given. An inner nullopt clears the setting.
struct ToolChange {
    std::string tool;
    std::optional<std::optional<int>> retention_days;
    std::optional<std::optional<std::int64_t>> monthly_quota;
    std::optional<int> grace_percent;
    std::optional<std::optional<int>> rollup_retention_days;
};

/// A tool's settings with its usage in the current month.
struct ToolRow {
    ToolSettings settings;
    std::int64_t used_this_month = 0;
};

/// "none" (or "default", "forever") -> cleared, else a whole number >= `min`. Pure.
tk::Result<std::optional<std::int64_t>> parse_limit(const std::string& text, std::int64_t min);

/// Adds a tool (fails if it has a row already) / changes one (fails if it has none).
tk::Result<void> add_tool(Connection& conn, const ToolChange& change);
tk::Result<void> set_tool(Connection& conn, const ToolChange& change);
/// Every tool with a row, or with usage this month, with its usage; `now_ms` picks the month.
std::vector<ToolRow> list_tools(Connection& conn, std::int64_t now_ms);

/// The month a quota counts in ("YYYY-MM-01", UTC) for `now_ms`. Pure.
std::string quota_month(std::int64_t now_ms);

/// Ingest's insert (detail::kInsertStaging) gated by the tool's quota and counting what it
/// inserted into tool_usage, in one statement. $1 the tool, $2 quota_month(). Returns one row per
/// inserted event id, and one summary row with a NULL id: (NULL, used this month including this
/// batch, the quota or NULL, whether the batch was refused). Refused: nothing was inserted.
extern const std::string kInsertCounted;

/// Per-tool retention: deletes the events of `tool` with an id time before `cutoff_ms`, at most
/// `batch_rows` per statement (each its own short transaction, walking the primary key from the
/// last id it deleted). Returns the number deleted. Throws DatabaseError.
long long expire_tool_events(Connection& conn, const std::string& tool, std::int64_t cutoff_ms, int batch_rows);

/// What one housekeeping pass of per-tool retention removed.
struct TenantRetention {
    long long events = 0;
    long long rollup_rows = 0;
};
/// Runs each tool's retention (raw events, install days, rollups) as of `now_ms`. Throws DatabaseError.
TenantRetention expire_per_tool(Connection& conn, std::int64_t now_ms, int batch_rows = 5000);

}  // namespace tk::collector
