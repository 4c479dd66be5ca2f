// Export of one million events (ctest -L slow): the collector streams them in constant memory —
// its peak RSS (/proc/PID/status VmHWM) grows by less than kGrowthBoundKiB however many rows go
// out — and every row arrives, in both formats.
#include <catch2/catch.hpp>

#include "export_helpers.hpp"

using namespace tk::test;

namespace {

/// The documented bound (docs/query.md#export): what an export may add to the collector's peak
/// RSS, whatever its size. One export holds two 64 KiB pieces and libpq's row buffer.
constexpr long kGrowthBoundKiB = 16 * 1024;
constexpr long long kEvents = 1'000'000;

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

    for (const char* format : {"csv", "ndjson"}) {
        INFO(format);
        const auto started = std::chrono::steady_clock::now();
        const auto exported = stream_export(collector.port(), token, std::string("tool=bulk&format=") + format);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        REQUIRE(exported.status == 200);
        CHECK(exported.complete);
        const std::uint64_t header = std::string(format) == "csv" ? 1 : 0;
        CHECK(exported.lines == static_cast<std::uint64_t>(kEvents) + 2 + header);
        const long peak_kib = status_kib(pid, "VmHWM");
        std::printf("%s export: %llu rows, %.1f MB in %.1f s; collector peak RSS %ld KiB before, %ld KiB after "
                    "(+%ld KiB, bound +%ld KiB)\n",
                    format, static_cast<unsigned long long>(exported.lines - header), exported.bytes / 1e6, seconds,
                    before_kib, peak_kib, peak_kib - before_kib, kGrowthBoundKiB);
        CHECK(peak_kib - before_kib < kGrowthBoundKiB);
    }
}
