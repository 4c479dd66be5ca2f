// Folding the shards of closed rollup periods.
//
// Ingest adds each batch's counts to its own connection's shard of a rollup row (backend pid mod
// 8, migration 004), so that concurrent batches of one tool do not queue on the lock of one hot
// row until they commit. A busy tool's row of a day or week therefore exists up to 8 times, and
// every read adds the copies up again: a collector with 8 database connections makes the
// dashboard read up to 8 times the rows it needs (bench_query's loader, one connection per day,
// makes one shard per day and two per week).
//
// Once a period is over, the hot rows have moved on: only late events (an agent that was offline)
// and erasure still write to it. Housekeeping then folds the period: one statement per table
// deletes the rows of shards 1-7 of every key that has more than one row and adds their sums to
// shard 0 (inserted or updated), in key order like ingest's upserts. A key with one row keeps it
// where it is: moving it would rewrite the table for nothing (folding all of bench_query's
// one-shard hourly rows doubled the table's size on disk). Sums are unchanged, so every answer
// is unchanged; a late event or an erasure after the fold makes a second row again, which the
// next fold takes.
//
// Locks: the DELETE takes rows that ingest only writes for late events; ingest takes rows in key
// order and so does the fold's upsert of shard 0, and a fold that waits longer than lock_timeout
// gives up (the next hour's housekeeping tries again) rather than hold ingest up.
#include "tk/collector/shard_folding.hpp"

#include <fmt/format.h>

#include <string_view>

#include "tk/collector/database.hpp"

namespace tk::collector {

const std::vector<ShardedRollup>& sharded_rollups() {
    static const std::vector<ShardedRollup> kRollups = {
        {"rollup_hourly", "hour", "tool_version, kind, name, os, os_version, arch, ci, success", false},
        {"rollup_duration", "hour", "name, bucket", false},
        {"rollup_daily_names", "day", "name, kind, success", false},
        {"rollup_daily_platform", "day", "tool_version, os, os_version, arch, ci, success", false},
        {"rollup_daily_duration", "day", "bucket", false},
        {"rollup_daily_exit_codes", "day", "kind, success, exit_code", false},
        {"rollup_daily_name_histogram", "day", "name", true},
        {"rollup_weekly_names", "week", "name, kind, success", false},
        {"rollup_weekly_platform", "week", "tool_version, os, os_version, arch, ci, success", false},
        {"rollup_weekly_duration", "week", "bucket", false},
        {"rollup_weekly_name_histogram", "week", "name", true},
        {"rollup_monthly_names", "month", "name, kind, success", false},
        {"rollup_monthly_platform", "month", "tool_version, os, os_version, arch, ci, success", false},
        {"rollup_monthly_duration", "month", "bucket", false},
        {"rollup_monthly_name_histogram", "month", "name", true},
    };
    return kRollups;
}

namespace {

/// The rows of the periods that ended after the start of day $2 and by the start of day $3 (days
/// since 1970-01-01, UTC), as an index range on the period.
std::string ended_between(const std::string& period) {
    const std::string from = "(DATE '1970-01-01' + $2::int)";
    const std::string to = "(DATE '1970-01-01' + $3::int)";
    if (period == "hour") {
        return "hour >= (" + from + "::timestamp AT TIME ZONE 'UTC') AND hour < (" + to +
               "::timestamp AT TIME ZONE 'UTC')";
    }
    if (period == "day") return "day >= " + from + " AND day < " + to;
    if (period == "week") return "week > " + from + " - 7 AND week <= " + to + " - 7";
    return "month > " + from + " - interval '1 month' AND month <= " + to + " - interval '1 month'";
}

}  // namespace

std::string fold_statement(const ShardedRollup& rollup) {
    const std::string value = rollup.histogram ? "counts" : "events";
    const std::string sum = rollup.histogram ? "tk_histogram_sum(counts)" : "sum(events)";
    const std::string add = rollup.histogram ? fmt::format("tk_histogram_add({}.counts, excluded.counts)", rollup.table)
                                             : fmt::format("{}.events + excluded.events", rollup.table);
    const std::string key = fmt::format("{}, {}", rollup.period, rollup.keys);
    return fmt::format(
        "WITH moved AS (DELETE FROM {table} WHERE tool = $1 AND {range} AND shard <> 0 AND ({key}) IN"
        " (SELECT {key} FROM {table} WHERE tool = $1 AND {range} GROUP BY {key} HAVING count(*) > 1)"
        " RETURNING {key}, {value}),"
        " folded AS (INSERT INTO {table} (tool, {key}, shard, {value})"
        " SELECT $1, {key}, 0, {sum} FROM moved GROUP BY {key} ORDER BY {key}"
        " ON CONFLICT (tool, {key}, shard) DO UPDATE SET {value} = {add})"
        " SELECT count(*) FROM moved",
        fmt::arg("table", rollup.table), fmt::arg("range", ended_between(rollup.period)), fmt::arg("key", key),
        fmt::arg("value", value), fmt::arg("sum", sum), fmt::arg("add", add));
}

std::int64_t fold_rollup_shards(Connection& conn, const std::string& tool, std::int64_t from_day, std::int64_t to_day) {
    std::int64_t folded = 0;
    const auto fold = [&](const ShardedRollup& rollup, std::int64_t from, std::int64_t to) {
        const Result result = conn.exec(fold_statement(rollup), {tool, std::to_string(from), std::to_string(to)});
        folded += std::stoll(std::string(result.value(0, 0)));
    };
    return with_session_settings(conn, "SET lock_timeout = '2s'", "RESET lock_timeout", [&] {
        for (const ShardedRollup& rollup : sharded_rollups()) {
            if (std::string_view(rollup.period) == "hour") {
                // A day of a busy tool's hourly rows at a time: short transactions.
                for (std::int64_t day = from_day; day < to_day; ++day) fold(rollup, day, day + 1);
            } else {
                fold(rollup, from_day, to_day);
            }
        }
        return folded;
    });
}

std::vector<std::string> rollup_tools(Connection& conn) {
    // min() over the primary key's leading column, one index probe per tool.
    const Result result = conn.exec(
        "WITH RECURSIVE t(tool) AS (SELECT min(tool) FROM rollup_daily_names UNION ALL"
        " SELECT (SELECT min(tool) FROM rollup_daily_names WHERE tool > t.tool) FROM t WHERE t.tool IS NOT NULL)"
        " SELECT tool FROM t WHERE tool IS NOT NULL");
    std::vector<std::string> tools;
    for (int row = 0; row < result.rows(); ++row) tools.emplace_back(result.value(row, 0));
    return tools;
}

}  // namespace tk::collector
