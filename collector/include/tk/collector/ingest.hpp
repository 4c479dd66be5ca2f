#pragma once
/// Batch ingest: per-event validation, and the bulk insert that tells accepted from duplicate
/// events (COPY into a per-connection staging table, then INSERT ... ON CONFLICT DO NOTHING
/// RETURNING). Also erasure of a subject and retention by dropping monthly partitions.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "telemetry_kit/v1/collector.pb.h"

namespace tk::collector {

class Connection;

/// Per-event bounds (bytes). An event over a bound is rejected with a reason; the rest of its
/// batch is still accepted.
struct FieldLimits {
    std::size_t tool = 128;
    std::size_t tool_version = 64;
    std::size_t name = 128;
    std::size_t anonymous_id = 128;
    std::size_t attributes = 64;
    std::size_t attribute_key = 64;
    std::size_t string_value = 1024;
};

/// Why an event was rejected: `code` is the metrics label, `message` goes into the ack.
struct Rejection {
    const char* code;
    const char* message;
};

/// The time window an event id's timestamp must fall in.
struct TimeWindow {
    std::int64_t oldest_ms;  ///< older ids are past retention (their partition may be gone)
    std::int64_t newest_ms;  ///< newer ids come from a clock far in the future
};

/// A window for now: `retention_days` back (0 = no lower bound) and one day ahead.
TimeWindow time_window_now(int retention_days);

/// Parses a batch body (protobuf, or JSON when `json`) into `batch`; on failure (malformed, or
/// more than `max_events` events) returns the 400 answer's text. Pure, so that it can be fuzzed.
/// The events are counted from the wire bytes (scan_batch) before anything is materialised; the
/// collector itself runs the steps one by one, to bound the parsed size in between.
std::optional<std::string> parse_batch(const std::string& body, bool json, std::size_t max_events,
                                       telemetry_kit::v1::Batch& batch);

/// The last step of parse_batch(): `wire` (already through scan_batch) into `batch`. `json`
/// only picks the error text.
std::optional<std::string> parse_scanned_batch(const std::string& wire, bool json, telemetry_kit::v1::Batch& batch);

/// Why `event` cannot be stored under a key for `key_tool`, or nullopt if it can.
std::optional<Rejection> validate_event(const telemetry_kit::v1::Event& event, std::string_view key_tool,
                                        const FieldLimits& limits, const TimeWindow& window);

/// How far ahead of now partitions may be made (next month's, ahead of time, always fits).
constexpr int kPartitionsAheadDays = 62;

/// The months (year * 12 + month - 1) whose partitions may be made for these id times: only
/// those overlapping the retention window (`retention_days` back from `now_ms`, 0 = no lower
/// bound) up to kPartitionsAheadDays ahead, whatever the caller asks for. Pure.
std::set<int> partition_months(const std::vector<std::int64_t>& id_times_ms, int retention_days, std::int64_t now_ms);

/// Valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text);

/// Monthly partitions known to exist (shared by all connections of a process).
class PartitionCache {
public:
    /// Creates the partitions covering these id times (ms) that are not known yet, only inside
    /// the window of partition_months().
    void ensure(Connection& conn, const std::vector<std::int64_t>& id_times_ms, int retention_days);
    /// Forgets everything (after a partition was found missing).
    void clear();
    /// Drops the partitions wholly older than `retention_days`; returns their names.
    std::vector<std::string> drop_expired(Connection& conn, int retention_days);

private:
    std::mutex mutex_;
    std::set<int> months_;  // year * 12 + month - 1
};

/// What happened to each event of a stored batch.
struct StoreOutcome {
    telemetry_kit::v1::BatchAck ack;
    std::vector<std::pair<const char*, std::uint64_t>> rejected_by_code;
    /// The tool's usage this month after the batch, and its quota (migration 006), when the
    /// batch reached the database; ack.has_quota_exceeded() when the quota refused it.
    std::optional<std::int64_t> used_this_month;
    std::optional<std::int64_t> monthly_quota;
};

/// Validates and stores `batch` for the key's tool in one transaction; every event is named
/// once in the ack — unless the tool is past its monthly quota plus grace (tenants.hpp): then
/// nothing is stored, the ack names only the rejected events and carries quota_exceeded. Idempotent: storing the same
/// batch again names its events duplicate. Throws DatabaseError.
StoreOutcome store_batch(Connection& conn, PartitionCache& partitions, const telemetry_kit::v1::Batch& batch,
                         std::string_view key_tool, const FieldLimits& limits, int retention_days);

/// Deletes every event of `tool` with this anonymous id; returns how many. Throws DatabaseError.
long long erase_subject(Connection& conn, const std::string& tool, const std::string& anonymous_id);

namespace detail {
/// The statements of one batch's insert (bench/collector runs them bare, as the physical limit):
/// create the staging table, COPY into it, move it into `events` (RETURNING the ids inserted),
/// add those events to the rollups (kApplyRollups with rollup_params(tool, rollup_delta(...))).
extern const char* const kCreateStaging;
extern const char* const kCopyStaging;
extern const char* const kInsertStaging;
extern const char* const kApplyRollups;

/// What a set of stored events adds to each rollup (migration 004), aggregated in the collector
/// so that PostgreSQL upserts one row per distinct key. Views point into the events.
struct RollupDelta {
    /// (hour as Unix seconds, name, tool_version, kind, os, os_version, arch, ci, success 1/0/-1)
    using HourlyKey = std::tuple<std::int64_t, std::string_view, std::string_view, int, std::string_view,
                                 std::string_view, std::string_view, bool, int>;
    std::map<HourlyKey, std::int64_t> hourly;
    std::map<std::tuple<std::int64_t, std::string_view, int>, std::int64_t> durations;  ///< (hour s, name, bucket)
    std::set<std::pair<std::int64_t, std::string_view>> days;                    ///< (UTC day since 1970, install)
    std::map<std::string_view, std::pair<std::int64_t, std::int64_t>> installs;  ///< install -> first, last day
    /// Migration 005, per UTC day (days since 1970): (day, name, kind, success)
    std::map<std::tuple<std::int64_t, std::string_view, int, int>, std::int64_t> daily_names;
    /// (day, tool_version, os, os_version, arch, ci, success)
    std::map<
        std::tuple<std::int64_t, std::string_view, std::string_view, std::string_view, std::string_view, bool, int>,
        std::int64_t>
        daily_platform;
    std::map<std::pair<std::int64_t, int>, std::int64_t> daily_durations;  ///< (day, bucket)
    /// (day, name, bucket): the counts of migration 009's duration histograms per day and name
    std::map<std::tuple<std::int64_t, std::string_view, int>, std::int64_t> daily_name_durations;
    /// (day, kind, success, exit code or nullopt)
    std::map<std::tuple<std::int64_t, int, int, std::optional<std::int32_t>>, std::int64_t> daily_exit_codes;
    std::set<std::pair<std::int64_t, std::string_view>> weeks;   ///< (Monday, install)
    std::set<std::pair<std::int64_t, std::string_view>> months;  ///< (first day of the month, install)
};
/// The rollup rows of `stored` (UTC hours and days of each event id's time). Pure.
RollupDelta rollup_delta(const std::vector<const telemetry_kit::v1::Event*>& stored);
/// kApplyRollups' parameters: the tool, then each column as a PostgreSQL array literal. Pure.
std::vector<std::string> rollup_params(std::string_view tool, const RollupDelta& delta);
/// tk_duration_bucket() of migration 004, computed the same way: 0 for <= 0 µs, else
/// 1 + floor(8 log2(duration)) — eight buckets per doubling.
int duration_bucket(std::int64_t duration_us);
/// The rollup upserts of erasure and of rollup_upserts() (a CTE list fragment); `count` per group.
std::string count_upserts(const std::string& rows, const std::string& count);
/// Migration 008's install counts as a CTE (no trailing comma): +1 ("") or -1 ("-") per row that
/// the CTEs days, weeks and months (RETURNING tool and the period's start) added or deleted.
std::string install_counts_upsert(const std::string& sign);
/// Every rollup's upsert for the newly inserted `rows` (a CTE with kRollupColumns): the hourly
/// and duration counts and the install days, as a CTE list fragment (no trailing comma). Used by
/// ingest and by bench_query's loader, so the benchmark's rollups are made by the same statements.
std::string rollup_upserts(const std::string& rows);
/// The columns rollup_upserts() reads from its rows.
extern const char* const kRollupColumns;
/// Appends `text` escaped for COPY's text format (backslash, tab, newline, carriage return).
void append_copy_text(std::string& out, std::string_view text);
/// The attributes as a JSON object (values: string, number, bool, or null when unset).
std::string attributes_json(const telemetry_kit::v1::Event& event);
/// One validated event as a line of COPY's text format (the columns of kCopyStaging, in order),
/// appended to `rows`: no timestamp means the id's time; an unset optional field is \N. Pure.
void append_copy_row(std::string& rows, const telemetry_kit::v1::Event& event);
}  // namespace detail

}  // namespace tk::collector
