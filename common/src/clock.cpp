#include "tk/common/clock.hpp"

#include <cstdlib>
#include <fstream>

namespace tk {

namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;

/// Days since 1970-01-01 of the civil date (proleptic Gregorian; H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// {year, month 1-12} of a Unix ms instant, UTC.
std::pair<std::int64_t, unsigned> civil_month(std::int64_t unix_ms) {
    std::int64_t z = unix_ms / kMsPerDay - (unix_ms % kMsPerDay < 0 ? 1 : 0) + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m};
}

}  // namespace

std::int64_t wall_clock_ms() {
    static const char* const file = std::getenv("TK_TEST_NOW_FILE");
    if (file == nullptr || *file == '\0') return now_unix_ms();
    std::ifstream in(file);
    long long ms = 0;
    if (in >> ms) return ms;
    return now_unix_ms();
}

std::int64_t utc_month_start_ms(std::int64_t unix_ms) {
    const auto [year, month] = civil_month(unix_ms);
    return days_from_civil(year, month, 1) * kMsPerDay;
}

std::int64_t utc_next_month_start_ms(std::int64_t unix_ms) {
    const auto [year, month] = civil_month(unix_ms);
    return month == 12 ? days_from_civil(year + 1, 1, 1) * kMsPerDay : days_from_civil(year, month + 1, 1) * kMsPerDay;
}

}  // namespace tk
