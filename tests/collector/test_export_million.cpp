// Export of one million events (ctest -L slow): the collector streams them in constant memory —
// its peak RSS (/proc/PID/status VmHWM) grows by less than kGrowthBoundKiB however many rows go
// out — and every row arrives, in both formats.
#include <catch2/catch.hpp>

#include "export_helpers.hpp"
#include "tk/collector/export.hpp"

using namespace tk::test;

namespace {

/// The documented bound (docs/query.md#export): what an export may add to the collector's peak
/// RSS, whatever its size. One export holds two 64 KiB pieces and libpq's row buffer.
constexpr long kGrowthBoundKiB = 16 * 1024;
constexpr long long kEvents = 1'000'000;

/// Seconds bare PostgreSQL takes for the export's own COPY statement, its output written by psql
/// to /dev/null: the physical limit an export through the collector is held against.
double bare_copy_seconds(CollectorFixture& collector, tk::collector::ExportFormat format, const std::string& from,
                         const std::string& to) {
    ProcessOptions options;
    options.argv = {
        (postgres_bin_dir() / "psql").string(),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-o",
        "/dev/null",
        "-d",
        collector.postgres().conninfo(),
        "-c",
        "BEGIN READ ONLY; SELECT set_config('tk.export_tool', 'bulk', true), set_config('tk.export_from', '" + from +
            "', true), set_config('tk.export_to', '" + to + "', true); " + tk::collector::export_copy_sql(format) +
            "; COMMIT;"};
    const auto started = std::chrono::steady_clock::now();
    const auto result = run(options, std::chrono::seconds(240));
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace

TEST_CASE("GET /v1/export of 1,000,000 events streams in constant memory, in CSV and NDJSON") {
    CollectorFixture collector;
    const std::string key = collector.create_key("bulk");
    ensure_partitions(collector, key, "bulk", 40);
    const auto generating = std::chrono::steady_clock::now();
    generate_events(collector, "bulk", kEvents, 40);
    std::printf("generated %lld events in %.1f s\n", kEvents,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - generating).count());
    const auto made = collector.run_command({"tokens", "create", "--tool", "bulk"});
    REQUIRE(made.exit_code == 0);
    const std::string token = made.out.substr(0, made.out.size() - 1);
    const pid_t pid = collector.process()->pid();
    const long before_kib = status_kib(pid, "VmHWM");

    // An explicit range around the generated events, the same for the export and the bare COPY.
    const std::string from =
        collector.query("SELECT to_char(now() AT TIME ZONE 'UTC' - interval '3 days', 'YYYY-MM-DD')");
    const std::string to = collector.query("SELECT to_char(now() AT TIME ZONE 'UTC' + interval '1 day', 'YYYY-MM-DD')");
    for (const char* format : {"csv", "ndjson"}) {
        INFO(format);
        const auto started = std::chrono::steady_clock::now();
        const auto exported =
            stream_export(collector.port(), token, "tool=bulk&from=" + from + "&to=" + to + "&format=" + format);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        REQUIRE(exported.status == 200);
        CHECK(exported.complete);
        const std::uint64_t header = std::string(format) == "csv" ? 1 : 0;
        CHECK(exported.lines == static_cast<std::uint64_t>(kEvents) + 2 + header);
        const long peak_kib = status_kib(pid, "VmHWM");
        const double bare = bare_copy_seconds(
            collector,
            std::string(format) == "csv" ? tk::collector::ExportFormat::csv : tk::collector::ExportFormat::ndjson,
            from + "T00:00:00", to + "T00:00:00");
        std::printf(
            "%s export: %llu rows, %.1f MB in %.1f s = %.0f rows/s; bare PostgreSQL COPY to psql: %.1f s; "
            "ratio %.2f of the bare COPY's rate; collector peak RSS %ld KiB before, %ld KiB after "
            "(+%ld KiB, bound +%ld KiB)\n",
            format, static_cast<unsigned long long>(exported.lines - header), exported.bytes / 1e6, seconds,
            static_cast<double>(exported.lines - header) / seconds, bare, bare / seconds, before_kib, peak_kib,
            peak_kib - before_kib, kGrowthBoundKiB);
        CHECK(peak_kib - before_kib < kGrowthBoundKiB);
    }
}
