// Export of raw events: the parameters (pure parse_export/resolve_export_range), COPY's text
// escapes, and GET /v1/export and `tk-collector export` against the real collector and PostgreSQL —
// every column round-trips in both formats (loaded back into PostgreSQL and compared with
// EXCEPT ALL both ways), token scopes, refusals before any database work, a stalled client cut off
// without memory growing, and the export slots.
#include <catch2/catch.hpp>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <ctime>

#include "export_helpers.hpp"
#include "tk/collector/export.hpp"

using namespace tk::test;
using tk::collector::ExportFormat;
using tk::collector::ExportParams;
using tk::collector::parse_export;
using tk::collector::resolve_export_range;

namespace {

std::string parse_error(const std::string& query) {
    const auto parsed = parse_export(query);
    return parsed ? "" : parsed.error();
}

std::chrono::system_clock::time_point utc(int y, int m, int d, int hour) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = hour;
    return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string make_token(const CollectorFixture& collector, const std::string& tool) {
    const auto made = collector.run_command({"tokens", "create", "--tool", tool});
    REQUIRE(made.exit_code == 0);
    return made.out.substr(0, made.out.size() - 1);
}

HttpResponse get_export(unsigned short port, const std::string& token, const std::string& query) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return http_request(port, http::verb::get, "/v1/export?" + query, {}, headers);
}

/// Hand-made events whose every column is awkward for CSV, JSON or COPY somewhere.
std::vector<Event> awkward_events(const std::string& tool) {
    std::vector<Event> events;
    Event quoted = make_event(tool, "build,with \"quotes\"", "anon-1");
    (*quoted.mutable_attributes())["message"].set_string_value("line1\nline2\\back\ttab \"q\" , end");
    (*quoted.mutable_attributes())["ratio"].set_double_value(3.5);
    (*quoted.mutable_attributes())["flag"].set_bool_value(true);
    (*quoted.mutable_attributes())["empty"].set_string_value("");
    quoted.set_os("linux");
    quoted.set_os_version("debian 12");
    quoted.set_arch("x86_64");
    quoted.set_agent_version("1.4.0");
    quoted.set_duration_us(9'007'199'254'740'993);  // past a double's exact integers
    events.push_back(quoted);

    Event unset = make_event(tool, "ünïcödé 名前", "");
    unset.set_tool_version("");
    unset.set_kind(telemetry_kit::v1::EVENT_KIND_FEATURE);
    unset.clear_success();
    unset.clear_duration_us();
    unset.clear_exit_code();
    unset.mutable_attributes()->clear();
    unset.set_ci(true);
    events.push_back(unset);

    Event failed = make_event(tool, "multi\r\nline\\N", "anon-3");
    failed.set_success(false);
    failed.set_exit_code(-1);
    failed.set_duration_us(0);
    (*failed.mutable_attributes())["path"].set_string_value("C:\\tmp\\x,\"y\"");
    failed.set_os("macos");
    failed.set_os_version("macos 14");
    failed.set_arch("arm64");
    events.push_back(failed);
    return events;
}

constexpr const char* kImportedTable =
    "CREATE TABLE imported (event_id uuid, id_time timestamptz, tool text, tool_version text, kind smallint,"
    " name text, occurred_at timestamptz, received_at timestamptz, anonymous_id text, attributes jsonb,"
    " success boolean, duration_us bigint, exit_code integer, ci boolean, os text, os_version text, arch text,"
    " agent_version text)";

/// Rows of `events` (tool `tool`) that `imported` lacks, plus rows of `imported` that `events` lacks.
std::string difference(CollectorFixture& collector, const std::string& tool) {
    const std::string columns = std::string(tk::collector::kExportColumns);
    return collector.query("SELECT (SELECT count(*) FROM (SELECT " + columns + " FROM events WHERE tool = '" + tool +
                           "' EXCEPT ALL SELECT " + columns + " FROM imported) a) + (SELECT count(*) FROM (SELECT " +
                           columns + " FROM imported EXCEPT ALL SELECT " + columns + " FROM events WHERE tool = '" +
                           tool + "') b)");
}

std::vector<std::string> lines_of(const std::string& text, const std::string& end = "\n") {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto at = text.find(end, start);
        if (at == std::string::npos) break;
        lines.push_back(text.substr(start, at - start));
        start = at + end.size();
    }
    return lines;
}

}  // namespace

TEST_CASE("parse_export: defaults, every parameter, and a clear reason for each bad one") {
    const auto parsed = parse_export("tool=my-cli&from=2026-11-01&to=2026-11-08T12%3A30Z&format=ndjson");
    REQUIRE(parsed);
    CHECK(parsed->tool == "my-cli");
    CHECK(parsed->from == "2026-11-01T00:00:00");
    CHECK(parsed->to == "2026-11-08T12:30:00");
    CHECK(parsed->format == ExportFormat::ndjson);
    CHECK(parse_export("tool=a")->format == ExportFormat::csv);

    CHECK(parse_error("format=csv") == "tool: required");
    CHECK(parse_error("tool=a;b") == "tool: not a tool name");
    CHECK(parse_error("tool=a&format=xml") == "format: csv or ndjson");
    CHECK(parse_error("tool=a&from=yesterday").rfind("from: YYYY-MM-DD", 0) == 0);
    CHECK(parse_error("tool=a&to=2026-02-30").rfind("to: YYYY-MM-DD", 0) == 0);  // the calendar, not only digits
    CHECK(parse_error("tool=a&to=2026-11-01T24:00").rfind("to: YYYY-MM-DD", 0) == 0);
    CHECK(parse_error("tool=a&from=2026-11-01T10:00+01:00").rfind("from: YYYY-MM-DD", 0) == 0);
    CHECK(parse_error("tool=a&limit=10") == "unknown parameter limit");
    CHECK(parse_error("tool=a&from=%zz") == "malformed percent-encoding");
    CHECK(parse_export("tool=a&from=2024-02-29"));  // a leap day

    // Defaults: to = the start of tomorrow (UTC), from = 30 days before to; from must come first.
    ExportParams params = *parse_export("tool=a");
    REQUIRE(resolve_export_range(params, utc(2026, 12, 2, 10)));
    CHECK(params.from == "2026-11-03T00:00:00");
    CHECK(params.to == "2026-12-03T00:00:00");
    params = *parse_export("tool=a&to=2026-03-01T06:00");
    REQUIRE(resolve_export_range(params, utc(2026, 12, 2, 10)));
    CHECK(params.from == "2026-01-30T06:00:00");
    params = *parse_export("tool=a&from=2026-12-05");
    CHECK(resolve_export_range(params, utc(2026, 12, 2, 10)).error() == "from: must be before to");
    params = *parse_export("tool=a&from=2026-11-05&to=2026-11-05");
    CHECK_FALSE(resolve_export_range(params, utc(2026, 12, 2, 10)));
}

TEST_CASE("copy_text_unescape: COPY's text escapes undone, everything else kept") {
    using tk::collector::copy_text_unescape;
    CHECK(copy_text_unescape("{\"a\":\"x\\\\ny\"}\n") == "{\"a\":\"x\\ny\"}\n");
    CHECK(copy_text_unescape("a\\tb\\nc\\rd\\\\e") == "a\tb\nc\rd\\e");
    CHECK(copy_text_unescape("plain ünï") == "plain ünï");
    CHECK(copy_text_unescape("trailing\\") == "trailing\\");
}

TEST_CASE("GET /v1/export and tk-collector export: every column round-trips in CSV and NDJSON") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const auto events = awkward_events("my-cli");
    Batch batch;
    for (const auto& event : events) *batch.add_events() = event;
    REQUIRE(parse_ack(post_batch(collector.port(), key, batch)).accepted_size() == 3);
    REQUIRE(post_batch(collector.port(), collector.create_key("other"), make_batch("other", 2)).status == 200);
    const std::string token = make_token(collector, "my-cli");

    // CSV: header, CRLF record ends, loaded back by PostgreSQL's own CSV reader, equal in every column.
    const auto csv = get_export(collector.port(), token, "tool=my-cli");
    REQUIRE(csv.status == 200);
    CHECK(csv.header("content-type") == "text/csv; charset=utf-8; header=present");
    CHECK(csv.header("transfer-encoding") == "chunked");
    CHECK(csv.header("x-export-to").size() == 20);
    CHECK(csv.body.rfind(std::string(tk::collector::kExportColumns) + "\r\n", 0) == 0);
    CHECK(csv.body.size() >= 2);
    CHECK(csv.body.substr(csv.body.size() - 2) == "\r\n");
    CHECK(csv.body.find("\"build,with \"\"quotes\"\"\"") != std::string::npos);  // RFC 4180 quoting
    collector.query(kImportedTable);
    psql_with_input(collector, "COPY imported FROM STDIN WITH (FORMAT csv, HEADER)", csv.body);
    CHECK(collector.query("SELECT count(*) FROM imported") == "3");
    CHECK(difference(collector, "my-cli") == "0");
    // Unset stays distinct from empty: NULL success/duration/exit code, '' tool_version/os.
    CHECK(collector.query("SELECT count(*) FROM imported WHERE success IS NULL AND duration_us IS NULL AND"
                          " exit_code IS NULL AND tool_version = '' AND os = '' AND anonymous_id = ''") == "1");

    // NDJSON: one JSON object per line, keys in the column order, loaded back the same way.
    const auto ndjson = get_export(collector.port(), token, "tool=my-cli&format=ndjson");
    REQUIRE(ndjson.status == 200);
    CHECK(ndjson.header("content-type") == "application/x-ndjson");
    const auto lines = lines_of(ndjson.body);
    REQUIRE(lines.size() == 3);
    for (const auto& line : lines) {
        google::protobuf::Struct object;
        REQUIRE(google::protobuf::util::JsonStringToMessage(line, &object).ok());
        CHECK(object.fields().size() == 18);
        CHECK(line.rfind("{\"event_id\":\"", 0) == 0);
        CHECK(object.fields().at("id_time").string_value().back() == 'Z');
        CHECK(object.fields().at("attributes").has_struct_value());
    }
    collector.query("TRUNCATE imported");
    std::string statements = "BEGIN;";
    for (const auto& line : lines) {
        REQUIRE(line.find("$tk$") == std::string::npos);
        statements += "INSERT INTO imported SELECT * FROM jsonb_populate_record(NULL::imported, $tk$" + line + "$tk$);";
    }
    collector.query(statements + "COMMIT;");
    CHECK(difference(collector, "my-cli") == "0");

    // The command line: the same bytes as the endpoint for the same range, to a file.
    const std::string from = csv.header("x-export-from");
    const std::string to = csv.header("x-export-to");
    TempDir dir("tk-export-");
    const auto written = collector.run_command({"export", "--tool", "my-cli", "--format", "ndjson", "--from", from,
                                                "--to", to, "--output", (dir / "out.ndjson").string()});
    INFO(written.err);
    REQUIRE(written.exit_code == 0);
    CHECK(read_file(dir / "out.ndjson") == ndjson.body);
    CHECK_FALSE(fs::exists(dir / "out.ndjson.part"));
    const auto to_stdout = collector.run_command({"export", "--tool", "my-cli", "--from", from, "--to", to});
    REQUIRE(to_stdout.exit_code == 0);
    CHECK(to_stdout.out == csv.body);
    // Bad parameters: exit 2, a clear message, no file.
    const auto bad = collector.run_command(
        {"export", "--tool", "my-cli", "--from", "2026-02-30", "--output", (dir / "bad.csv").string()});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--from: YYYY-MM-DD") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "bad.csv"));
}

TEST_CASE("GET /v1/export: a token reads only its tools, and refusals come before any database work") {
    CollectorFixture collector;
    const std::string key = collector.create_key("alpha");
    REQUIRE(post_batch(collector.port(), key, make_batch("alpha", 4)).status == 200);
    REQUIRE(post_batch(collector.port(), collector.create_key("beta"), make_batch("beta", 2)).status == 200);
    const std::string alpha = make_token(collector, "alpha");
    const std::string beta = make_token(collector, "beta");

    const auto own = get_export(collector.port(), alpha, "tool=alpha&format=ndjson");
    REQUIRE(own.status == 200);
    CHECK(lines_of(own.body).size() == 4);
    CHECK(own.body.find("\"tool\":\"beta\"") == std::string::npos);
    const auto cross = get_export(collector.port(), alpha, "tool=beta");
    CHECK(cross.status == 403);
    CHECK(cross.body == "this token does not read tool beta\n");
    CHECK(get_export(collector.port(), beta, "tool=beta&format=ndjson").body.find("alpha") == std::string::npos);
    const auto with_key = get_export(collector.port(), key, "tool=alpha");
    CHECK(with_key.status == 401);
    CHECK(with_key.body == "not a read token (ingest keys cannot read)\n");
    CHECK(get_export(collector.port(), "tkr_" + std::string(43, 'A'), "tool=alpha").status == 401);
    CHECK(http_request(collector.port(), http::verb::post, "/v1/export?tool=alpha", {},
                       {{"Authorization", "Bearer " + alpha}})
              .status == 405);
    REQUIRE(collector.run_command({"tokens", "revoke", alpha}).exit_code == 0);
    const auto revoked = get_export(collector.port(), alpha, "tool=alpha");
    CHECK(revoked.status == 401);
    CHECK(revoked.header("www-authenticate") == "Bearer");

    // With PostgreSQL stopped, bad parameters and a missing token are still refused as such (they
    // never reach the database); a well-formed request gets 503.
    collector.postgres().stop();
    CHECK(get_export(collector.port(), beta, "tool=beta&format=xml").body == "format: csv or ndjson\n");
    CHECK(get_export(collector.port(), beta, "tool=beta&from=2026-11-10&to=2026-11-01").body ==
          "from: must be before to\n");
    CHECK(get_export(collector.port(), beta, "").status == 400);
    CHECK(get_export(collector.port(), "", "tool=beta").status == 401);
    const auto down = get_export(collector.port(), beta, "tool=beta");
    CHECK(down.status == 503);
    CHECK_FALSE(down.header("retry-after").empty());
    collector.postgres().start();
    CHECK(wait_until([&] { return get_export(collector.port(), beta, "tool=beta").status == 200; }, 20s));
}

TEST_CASE("GET /v1/export: a stalled client is cut off after --export-write-timeout, in bounded memory") {
    CollectorFixture collector({"--export-write-timeout", "2", "--max-exports", "1", "--shutdown-timeout", "1"});
    const std::string key = collector.create_key("bulk");
    ensure_partitions(collector, key, "bulk", 20);
    generate_events(collector, "bulk", 200'000, 20);  // ~60 MB of CSV: far more than socket buffers hold
    const std::string token = make_token(collector, "bulk");
    const pid_t pid = collector.process()->pid();
    const long before_kib = status_kib(pid, "VmHWM");

    // A client that asks and then reads nothing.
    HttpConnection stalled(collector.port());
    http::request<http::empty_body> request{http::verb::get, "/v1/export?tool=bulk", 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + token);
    http::write(stalled.stream(), request);
    const auto copying = [&] {
        return collector.query("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state = 'active'");
    };
    REQUIRE(wait_until([&] { return copying() == "1"; }, 10s));
    // Its place is taken: one export at a time here.
    const auto busy = get_export(collector.port(), token, "tool=bulk");
    CHECK(busy.status == 503);
    CHECK(busy.header("retry-after") == "5");
    // Cut off once a piece waits 2 s; the COPY's connection is closed, the slot freed.
    REQUIRE(wait_until([&] { return collector.log().find("stopped after") != std::string::npos; }, 20s));
    CHECK(wait_until([&] { return copying() == "0"; }, 10s));
    const long after_kib = status_kib(pid, "VmHWM");
    std::printf("stalled export: collector peak RSS %ld KiB before, %ld KiB after\n", before_kib, after_kib);
    CHECK(after_kib - before_kib < 16 * 1024);

    // A client that goes away mid-stream: noticed at the next write, the slot freed again.
    {
        HttpConnection leaving(collector.port());
        http::write(leaving.stream(), request);
        boost::beast::flat_buffer buffer;
        http::response_parser<http::buffer_body> parser;
        http::read_header(leaving.stream(), buffer, parser);
        CHECK(parser.get().result_int() == 200);
    }
    CHECK(wait_until(
        [&] {
            const auto log = collector.log();
            std::size_t stops = 0;
            for (auto at = log.find("stopped after"); at != std::string::npos; at = log.find("stopped after", at + 1))
                ++stops;
            return stops == 2;
        },
        20s));
    const auto whole = stream_export(collector.port(), token, "tool=bulk");
    CHECK(whole.status == 200);
    CHECK(whole.complete);
    CHECK(whole.lines == 200'000 + 2 + 1);  // the rows, the two partition makers, the header

    // SIGTERM while an export is stalled mid-stream: the collector still exits by itself (0) once
    // --shutdown-timeout has passed, its export worker giving up the write it waits on.
    HttpConnection last(collector.port());
    http::write(last.stream(), request);
    REQUIRE(wait_until([&] { return copying() == "1"; }, 10s));
    CHECK(collector.stop(8s) == 0);
}
