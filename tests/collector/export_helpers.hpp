#pragma once
// Helpers for the export tests: events made in bulk by SQL, an export read as a stream (counted,
// never held whole), psql with stdin, and a process's peak RSS.

#include <catch2/catch.hpp>

#include <boost/beast/http.hpp>

#include <fstream>
#include <random>
#include <string>

#include "batch_helpers.hpp"
#include "random_events.hpp"
#include "support/collector_fixture.hpp"
#include "tk/common/uuid.hpp"

namespace tk::test {

/// A field of /proc/PID/status in KiB (VmHWM: peak RSS, VmRSS: now); -1 if unreadable.
inline long status_kib(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

/// Makes sure the monthly partitions for the last `hours` exist, the way the collector makes
/// them: by ingesting one real event at each end of the range (and counts those two).
inline void ensure_partitions(const CollectorFixture& collector, const std::string& key, const std::string& tool,
                              int hours) {
    std::mt19937_64 rng(7);
    const std::int64_t now_ms = static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7()));
    Batch batch;
    for (const std::int64_t ms : {now_ms - std::int64_t{hours} * 3'600'000 + 60'000, now_ms}) {
        Event event = make_event(tool, "partition-maker");
        event.set_id(id_at(ms, rng));
        event.set_timestamp_unix_ms(ms);
        *batch.add_events() = event;
    }
    REQUIRE(post_batch(collector.port(), key, batch).status == 200);
}

/// `count` events of `tool` inserted by one SQL statement (generate_series), spread over the last
/// `hours` hours, with realistic columns: 300 commands, 40 versions, 5,000 installs, attributes,
/// outcomes, durations, platforms. Much faster than sending them; the rollups are not kept (the
/// export reads only `events`). Call ensure_partitions() first.
inline void generate_events(const CollectorFixture& collector, const std::string& tool, long long count, int hours) {
    const std::string step_ms =
        std::to_string(std::max<long long>(1, (std::int64_t{hours} * 3'600'000 - 120'000) / count));
    // In statements of 100,000 rows: each psql call has a 60 s deadline, and a loaded machine
    // took 56 s for a million at once.
    for (long long first = 1; first <= count; first += 100'000) {
        const long long last = std::min(count, first + 99'999);
        collector.query(
            "INSERT INTO events (event_id, id_time, tool, tool_version, kind, name, occurred_at, received_at,"
            " anonymous_id, attributes, success, duration_us, exit_code, ci, os, os_version, arch, agent_version)"
            " SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,"
            " to_timestamp(ms / 1000.0), '" +
            tool +
            "', '1.' || (i % 40), 1 + (i % 3)::smallint, 'command-' || (i % 300),"
            " to_timestamp(ms / 1000.0), now(), md5('install' || (i % 5000)),"
            " jsonb_build_object('cache', CASE WHEN i % 2 = 0 THEN 'hit' ELSE 'miss' END, 'jobs', i % 16, 'runtime', "
            "'node 20'),"
            " CASE i % 10 WHEN 0 THEN false WHEN 1 THEN NULL ELSE true END, CASE WHEN i % 4 = 0 THEN NULL ELSE "
            "(i::bigint * 7919) % 10000000 END,"
            " CASE i % 10 WHEN 0 THEN 1 WHEN 1 THEN NULL ELSE 0 END, i % 7 = 0,"
            " CASE i % 3 WHEN 0 THEN 'linux' WHEN 1 THEN 'macos' ELSE 'windows' END,"
            " CASE i % 3 WHEN 0 THEN 'debian 12' WHEN 1 THEN 'macos 14' ELSE 'windows 11' END,"
            " CASE WHEN i % 5 = 0 THEN 'arm64' ELSE 'x86_64' END, '0.9.0'"
            " FROM (SELECT i, (extract(epoch FROM now()) * 1000)::bigint - 60000 - i::bigint * " +
            step_ms +
            " AS ms,"
            " md5(i::text) AS h FROM generate_series(" +
            std::to_string(first) + ", " + std::to_string(last) + ") i) g");
    }
}

/// An export read as it streams: bytes and lines counted, the head's fields kept, at most
/// `keep_bytes` of the body kept.
struct StreamedExport {
    unsigned status = 0;
    bool complete = false;  ///< the body ended with its last chunk
    std::uint64_t bytes = 0;
    std::uint64_t lines = 0;  ///< '\n' characters
    std::string content_type;
    std::string kept;
};

inline StreamedExport stream_export(unsigned short port, const std::string& token, const std::string& query,
                                    std::size_t keep_bytes = 0) {
    namespace beast = boost::beast;
    StreamedExport result;
    HttpConnection connection(port);
    http::request<http::empty_body> request{http::verb::get, "/v1/export?" + query, 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + token);
    beast::error_code ec;
    connection.stream().expires_after(std::chrono::seconds(120));
    http::write(connection.stream(), request, ec);
    REQUIRE_FALSE(ec);
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    http::read_header(connection.stream(), buffer, parser, ec);
    REQUIRE_FALSE(ec);
    result.status = parser.get().result_int();
    result.content_type = std::string(parser.get()[http::field::content_type]);
    std::vector<char> piece(64 * 1024);
    while (!parser.is_done()) {
        parser.get().body().data = piece.data();
        parser.get().body().size = piece.size();
        http::read(connection.stream(), buffer, parser, ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
        const std::size_t got = piece.size() - parser.get().body().size;
        result.bytes += got;
        result.lines += static_cast<std::uint64_t>(std::count(piece.data(), piece.data() + got, '\n'));
        if (result.kept.size() < keep_bytes)
            result.kept.append(piece.data(), std::min(got, keep_bytes - result.kept.size()));
    }
    result.complete = !ec && parser.is_done();
    return result;
}

/// psql on the collector's database with `input` on its stdin (for COPY ... FROM STDIN).
inline std::string psql_with_input(CollectorFixture& collector, const std::string& sql, const std::string& input) {
    ProcessOptions options;
    options.argv = {(postgres_bin_dir() / "psql").string(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                    collector.postgres().conninfo(),        "-c", sql};
    options.stdin_data = input;
    const auto result = run(options, std::chrono::seconds(60));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    std::string out = result.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

}  // namespace tk::test
