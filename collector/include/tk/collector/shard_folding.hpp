#pragma once
/// Folding the shards of closed rollup periods into one row (collector/src/shard_folding.cpp says
/// why and how).

#include <cstdint>
#include <string>
#include <vector>

namespace tk::collector {

class Connection;

/// One rollup table whose rows ingest adds to per shard (migrations 004, 005, 008, 009).
struct ShardedRollup {
    const char* table;
    const char* period;  ///< "hour" (timestamptz), "day", "week" or "month" (date: the period's first day)
    const char* keys;    ///< the key columns between the period and `shard`
    bool histogram;      ///< `counts bigint[]` instead of `events bigint`
};

/// Every sharded rollup table that the query API reads.
const std::vector<ShardedRollup>& sharded_rollups();

/// The statement that folds the shards of one table's rows of tool $1 whose period ended after the
/// start of day $2 and by the start of day $3 (days since 1970-01-01, UTC) into shard 0: a DELETE of the other
/// shards' rows of every key with more than one row, feeding an upsert of their sums; answers the
/// number of rows deleted. Pure.
std::string fold_statement(const ShardedRollup& rollup);

/// Folds the shards of `tool`'s rollup rows of the periods that ended after the start of
/// `from_day` and by the start of `to_day` (days since 1970-01-01, UTC; for days: the days
/// [from_day, to_day)), one short transaction per table (per table and day for the hourly
/// tables). Returns the number of shard rows folded. Throws DatabaseError, e.g. when a lock was
/// not granted within 2 s (housekeeping logs it and folds again the next hour).
std::int64_t fold_rollup_shards(Connection& conn, const std::string& tool, std::int64_t from_day, std::int64_t to_day);

/// The tools that have daily rollups (a loose index scan of rollup_daily_names' primary key).
std::vector<std::string> rollup_tools(Connection& conn);

}  // namespace tk::collector
