// Export of raw events. The parameters are checked by pure functions (parse_export,
// resolve_export_range); run_export() is one COPY ... TO STDOUT read a row at a time: PostgreSQL
// formats the CSV itself (RFC 4180 quoting; NULL unquoted and empty, '' as ""), and the NDJSON
// lines are row_to_json() of the same columns.
#include "tk/collector/export.hpp"

#include <fmt/format.h>

#include <chrono>
#include <string>

#include "tk/collector/database.hpp"
#include "tk/collector/percent_decode.hpp"
#include "tk/common/calendar.hpp"

namespace tk::collector {

namespace {

bool tool_chars(std::string_view text) {
    for (const char c : text) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

int digits(std::string_view text, std::size_t at, std::size_t count) {
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) value = value * 10 + (text[i] - '0');
    return value;
}

bool valid_date(int y, int m, int d) {
    if (m < 1 || m > 12 || d < 1) return false;
    const auto back = tk::calendar::civil_from_days(tk::calendar::days_from_civil(y, m, d));
    return back.year == y && back.month == m && back.day == d;  // 2026-02-30 comes back as March
}

/// "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS", optionally with a trailing 'Z', as
/// "YYYY-MM-DDTHH:MM:SS"; "" if the shape or the calendar is wrong.
std::string normal_time(std::string_view text) {
    static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
    if (!text.empty() && text.back() == 'Z') text.remove_suffix(1);
    if (text.size() != 10 && text.size() != 16 && text.size() != 19) return {};
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == kShape[i];
        if (!ok) return {};
    }
    if (digits(text, 0, 4) < 1970 || !valid_date(digits(text, 0, 4), digits(text, 5, 2), digits(text, 8, 2))) return {};
    const int hour = text.size() > 10 ? digits(text, 11, 2) : 0;
    const int minute = text.size() > 10 ? digits(text, 14, 2) : 0;
    const int second = text.size() > 16 ? digits(text, 17, 2) : 0;
    if (hour > 23 || minute > 59 || second > 59) return {};
    return fmt::format("{}T{:02}:{:02}:{:02}", text.substr(0, 10), hour, minute, second);
}

/// Seconds since 1970 as "YYYY-MM-DDTHH:MM:SS" (UTC), and back (from normal_time()'s shape).
std::string format_utc(long long seconds) {
    const long long days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    const long long in_day = seconds - days * 86400;
    const auto date = tk::calendar::civil_from_days(days);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", date.year, date.month, date.day, in_day / 3600,
                       in_day / 60 % 60, in_day % 60);
}

long long parse_utc(const std::string& normal) {
    return tk::calendar::days_from_civil(digits(normal, 0, 4), digits(normal, 5, 2), digits(normal, 8, 2)) * 86400 +
           digits(normal, 11, 2) * 3600 + digits(normal, 14, 2) * 60 + digits(normal, 17, 2);
}

// The same columns in both formats; only the types differ where CSV wants words (true/false).
constexpr const char* kTimeFormat = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'";
constexpr const char* kMicroTimeFormat = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";

std::string select_sql(bool csv) {
    const std::string boolean = csv ? "::text" : "";
    return fmt::format(
        "SELECT event_id, to_char(id_time AT TIME ZONE 'UTC', {0}) AS id_time, tool, tool_version, kind, name,"
        " to_char(occurred_at AT TIME ZONE 'UTC', {0}) AS occurred_at,"
        " to_char(received_at AT TIME ZONE 'UTC', {1}) AS received_at, anonymous_id, attributes,"
        " success{2} AS success, duration_us, exit_code, ci{2} AS ci, os, os_version, arch, agent_version"
        " FROM events WHERE tool = current_setting('tk.export_tool')"
        " AND id_time >= (current_setting('tk.export_from')::timestamp AT TIME ZONE 'UTC')"
        " AND id_time < (current_setting('tk.export_to')::timestamp AT TIME ZONE 'UTC')",
        kTimeFormat, kMicroTimeFormat, boolean);
}

/// Appends one COPY row to `chunk` in the output format: CSV rows end in CRLF (RFC 4180; line
/// breaks inside quoted values stay as they are), NDJSON rows lose COPY's text escapes.
void append_row(std::string& chunk, const std::string& row, ExportFormat format) {
    if (format == ExportFormat::ndjson) {
        chunk += copy_text_unescape(row);
        return;
    }
    if (!row.empty() && row.back() == '\n') {
        chunk.append(row, 0, row.size() - 1);
        chunk += "\r\n";
    } else {
        chunk += row;
    }
}

/// Closes the connection unless the transaction ended cleanly: a COPY cut off midway cannot be
/// finished without reading it to its end, and a fresh connection is cheaper than that.
class AbandonUnlessDone {
public:
    explicit AbandonUnlessDone(Connection& conn) : conn_(conn) {}
    ~AbandonUnlessDone() {
        if (!done_) conn_.abandon();
    }
    AbandonUnlessDone(const AbandonUnlessDone&) = delete;
    AbandonUnlessDone& operator=(const AbandonUnlessDone&) = delete;
    void done() { done_ = true; }

private:
    Connection& conn_;
    bool done_ = false;
};

}  // namespace

tk::Result<void> set_export_param(ExportParams& params, std::string_view key, std::string_view value) {
    if (key == "tool") {
        if (value.empty() || value.size() > 128 || !tool_chars(value)) return tk::Error{"tool: not a tool name"};
        params.tool = value;
    } else if (key == "from" || key == "to") {
        std::string normal = normal_time(value);
        if (normal.empty()) {
            return tk::Error{std::string(key) + ": YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z], a UTC date and time"};
        }
        (key == "from" ? params.from : params.to) = std::move(normal);
    } else if (key == "format") {
        if (value != "csv" && value != "ndjson") return tk::Error{"format: csv or ndjson"};
        params.format = value == "csv" ? ExportFormat::csv : ExportFormat::ndjson;
    } else {
        return tk::Error{"unknown parameter " + std::string(key)};
    }
    return {};
}

tk::Result<ExportParams> parse_export(std::string_view query_string) {
    ExportParams params;
    const std::string error = for_each_query_param(query_string, [&](const std::string& key, const std::string& value) {
        const auto applied = set_export_param(params, key, value);
        return applied ? std::string() : applied.error();
    });
    if (!error.empty()) return tk::Error{error};
    if (params.tool.empty()) return tk::Error{"tool: required"};
    return params;
}

tk::Result<void> resolve_export_range(ExportParams& params, std::chrono::system_clock::time_point now) {
    constexpr long long kDay = 86400;
    const long long now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (params.to.empty()) params.to = format_utc((now_s / kDay + 1) * kDay);
    if (params.from.empty()) params.from = format_utc(parse_utc(params.to) - 30 * kDay);
    if (params.from >= params.to) return tk::Error{"from: must be before to"};  // same shape: text order is time order
    return {};
}

std::string export_copy_sql(ExportFormat format) {
    if (format == ExportFormat::csv) return "COPY (" + select_sql(true) + ") TO STDOUT WITH (FORMAT csv, HEADER)";
    return "COPY (SELECT row_to_json(e) FROM (" + select_sql(false) + ") e) TO STDOUT";
}

std::string copy_text_unescape(std::string_view row) {
    std::string out;
    out.reserve(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) {
        if (row[i] != '\\' || i + 1 == row.size()) {
            out += row[i];
            continue;
        }
        const char next = row[++i];
        switch (next) {
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            default: out += next;  // "\\" and an escaped delimiter
        }
    }
    return out;
}

ExportOutcome run_export(Connection& conn, const ExportParams& params, const ExportSink& sink, int timeout_ms) {
    ExportOutcome outcome;
    AbandonUnlessDone guard(conn);
    conn.exec("BEGIN READ ONLY");
    // The COPY's own statement_timeout: a long export is bounded by this, not by the pool's
    // short default; the client's pace is bounded by the caller's per-write deadline.
    conn.exec(
        "SELECT set_config('statement_timeout', $1, true), set_config('tk.export_tool', $2, true),"
        " set_config('tk.export_from', $3, true), set_config('tk.export_to', $4, true)",
        {std::to_string(timeout_ms), params.tool, params.from, params.to});
    conn.copy_out_begin(export_copy_sql(params.format));
    std::string chunk;
    chunk.reserve(kExportChunkBytes + 4096);
    std::string row;
    bool header = params.format == ExportFormat::csv;
    while (conn.copy_get(row)) {
        append_row(chunk, row, params.format);
        if (header) {
            header = false;
        } else {
            ++outcome.rows;
        }
        if (chunk.size() >= kExportChunkBytes) {
            if (!sink(chunk)) return outcome;  // the guard closes the half-read connection
            chunk.clear();
            if (chunk.capacity() > 4 * kExportChunkBytes) std::string().swap(chunk);  // after one huge row
        }
    }
    conn.exec("COMMIT");
    guard.done();
    if (!chunk.empty() && !sink(chunk)) return outcome;
    outcome.complete = true;
    return outcome;
}

}  // namespace tk::collector
