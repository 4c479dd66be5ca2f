#include "tk/common/clock.hpp"

#include <cstdlib>
#include <fstream>

#include "tk/common/calendar.hpp"

namespace tk {

namespace {
constexpr std::int64_t kMsPerDay = 86'400'000;
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
    return calendar::month_start(calendar::day_of_unix_ms(unix_ms)) * kMsPerDay;
}

std::int64_t utc_next_month_start_ms(std::int64_t unix_ms) {
    return calendar::next_month_start(calendar::day_of_unix_ms(unix_ms)) * kMsPerDay;
}

}  // namespace tk
