#pragma once
/// Export of raw events (GET /v1/export and `tk-collector export`, docs/query.md#export): the
/// parameters checked by pure functions, then one `COPY (SELECT ...) TO STDOUT` whose rows are
/// handed to a sink in bounded chunks, one chunk at a time, so that PostgreSQL is read no faster
/// than the sink takes the rows and memory does not grow with the export.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "tk/common/result.hpp"

namespace tk::collector {

class Connection;

enum class ExportFormat { csv, ndjson };

struct ExportParams {
    std::string tool;
    std::string from;  ///< UTC, "YYYY-MM-DDTHH:MM:SS", inclusive; "" = default (see resolve_export_range)
    std::string to;    ///< UTC, as `from`, exclusive; "" = default
    ExportFormat format = ExportFormat::csv;
};

/// Parses a query string (without '?'): tool (required), from, to, format. The error is the 400
/// answer's text. Times are checked here, calendar included (no database needed to refuse 2026-02-30).
tk::Result<ExportParams> parse_export(std::string_view query_string);

/// Checks and normalises one parameter, as parse_export() does; for the command line.
/// `from`/`to`: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS", optionally with a
/// trailing "Z" (always UTC). `format`: csv or ndjson.
tk::Result<void> set_export_param(ExportParams& params, std::string_view key, std::string_view value);

/// Fills in the defaults and checks the range: `to` defaults to the start of tomorrow (UTC) and
/// `from` to 30 days before `to` — the same window as the query API's default in UTC. Fails if
/// `from` is not before `to`. Pure: `now` is given.
tk::Result<void> resolve_export_range(ExportParams& params, std::chrono::system_clock::time_point now);

/// The columns of an export, in order (the CSV header and the NDJSON keys).
inline constexpr std::string_view kExportColumns =
    "event_id,id_time,tool,tool_version,kind,name,occurred_at,received_at,anonymous_id,attributes,success,"
    "duration_us,exit_code,ci,os,os_version,arch,agent_version";

/// The COPY statement for `format`. It has no parameters (COPY takes none): the tool and range
/// are read with current_setting() from the transaction's settings tk.export_tool, tk.export_from
/// and tk.export_to, which run_export() sets with bound parameters. Pure.
std::string export_copy_sql(ExportFormat format);

/// One row of COPY's text format (one column, its line end included) back to its value: COPY
/// escapes backslashes and control characters, the NDJSON lines must not carry those escapes.
std::string copy_text_unescape(std::string_view row);

/// The bytes handed to the sink at once (at most; one row may be larger).
inline constexpr std::size_t kExportChunkBytes = 64 * 1024;

/// Takes one chunk; returns false to stop the export (the client went away or is too slow).
using ExportSink = std::function<bool(std::string_view chunk)>;

struct ExportOutcome {
    long long rows = 0;     ///< data rows sent (the CSV header not counted)
    bool complete = false;  ///< false: the sink stopped it
};

/// Runs the export of `params` (range resolved) in a read-only transaction whose statement_timeout
/// is `timeout_ms` (0: none), handing the output to `sink` in chunks of about kExportChunkBytes:
/// CSV per RFC 4180 (header row, CRLF line ends), or NDJSON (one JSON object per line, "\n").
/// When the sink stops, the connection is closed (a COPY cannot be left half-read), so the
/// caller's pool makes a fresh one. Throws DatabaseError.
ExportOutcome run_export(Connection& conn, const ExportParams& params, const ExportSink& sink, int timeout_ms);

}  // namespace tk::collector
