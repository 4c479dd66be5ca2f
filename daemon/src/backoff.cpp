// Retry timing for the forwarder (backoff.hpp): exponential backoff with full jitter, Retry-After.
#include "tk/agent/backoff.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <ctime>
#include <string>

namespace tk::agent::backoff {

using std::chrono::milliseconds;

milliseconds ceiling(unsigned failures, milliseconds initial, milliseconds cap) {
    if (failures == 0 || initial.count() <= 0) return std::min(initial, cap);
    milliseconds value = initial;
    for (unsigned i = 1; i < failures && value < cap; ++i) value *= 2;  // stops before overflow
    return std::min(value, cap);
}

milliseconds full_jitter(unsigned failures, milliseconds initial, milliseconds cap, std::mt19937_64& rng) {
    const milliseconds top = ceiling(failures, initial, cap);
    if (top.count() <= 0) return milliseconds(0);
    std::uniform_int_distribution<milliseconds::rep> pick(0, top.count());
    return milliseconds(pick(rng));
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

int month_index(std::string_view name) {
    static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (std::size_t i = 0; i < months.size(); ++i) {
        if (name == months[i]) return static_cast<int>(i);
    }
    return -1;
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// The three HTTP-date forms of RFC 9110 section 5.6.7, always GMT. Returns unix seconds.
std::optional<std::int64_t> parse_http_date(const std::string& text) {
    char weekday[16] = {}, month[4] = {}, zone[4] = {};
    int day = 0, year = 0, hour = 0, minute = 0, second = 0, used = 0;
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    bool ok = std::sscanf(text.c_str(), "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d %3s%n", weekday, &day, month, &year,
                          &hour, &minute, &second, zone, &used) == 8 &&
              used == static_cast<int>(text.size());
    if (!ok) {  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        used = 0;
        ok = std::sscanf(text.c_str(), "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3s%n", weekday, &day, month, &year,
                         &hour, &minute, &second, zone, &used) == 8 &&
             used == static_cast<int>(text.size());
        if (ok) year += year < 70 ? 2000 : 1900;
    }
    if (!ok) {  // asctime: "Sun Nov  6 08:49:37 1994"
        used = 0;
        ok = std::sscanf(text.c_str(), "%15[A-Za-z] %3s %d %2d:%2d:%2d %4d%n", weekday, month, &day, &hour, &minute,
                         &second, &year, &used) == 7 &&
             used == static_cast<int>(text.size());
        if (ok) std::strcpy(zone, "GMT");
    }
    if (!ok || std::strcmp(zone, "GMT") != 0) return std::nullopt;
    const int m = month_index(month);
    if (m < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970) return std::nullopt;
    const std::int64_t days = days_from_civil(year, static_cast<unsigned>(m + 1), static_cast<unsigned>(day));
    return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
    value = trim(value);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        // delay-seconds; anything past a day is as good as a day (and cannot overflow).
        if (value.size() > 9) return milliseconds(std::chrono::hours(24));
        const long seconds = std::stol(std::string(value));
        return std::min<milliseconds>(std::chrono::seconds(seconds), std::chrono::hours(24));
    }
    const auto when = parse_http_date(std::string(value));
    if (!when) return std::nullopt;
    const auto now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch());
    const milliseconds delay = milliseconds(*when * 1000) - now_ms;
    return std::clamp<milliseconds>(delay, milliseconds(0), std::chrono::hours(24));
}

milliseconds retry_after_delay(milliseconds retry_after, milliseconds floor, milliseconds cap, std::mt19937_64& rng) {
    const milliseconds base = std::clamp(retry_after, floor, std::max(floor, cap));
    const milliseconds spread = std::max(milliseconds(1000), base / 10);
    std::uniform_int_distribution<milliseconds::rep> pick(0, spread.count());
    return base + milliseconds(pick(rng));
}

milliseconds next_delay(unsigned failures, std::optional<milliseconds> retry_after, milliseconds initial,
                        milliseconds cap, std::mt19937_64& rng, milliseconds retry_after_cap) {
    if (retry_after) return retry_after_delay(*retry_after, kRetryAfterFloor, retry_after_cap, rng);
    return full_jitter(failures, initial, cap, rng);
}

}  // namespace tk::agent::backoff
