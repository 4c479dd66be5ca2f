#pragma once
// Days since 1970-01-01 (UTC) and the calendar periods they fall in: the UTC days, ISO weeks and
// months of the collector's rollups, computed without a time zone library. Howard Hinnant's
// days_from_civil / civil_from_days (public domain algorithms), proleptic Gregorian calendar.
#include <cstdint>

namespace tk::calendar {

struct Date {
    int year;
    int month;  ///< 1-12
    int day;    ///< 1-31
};

constexpr std::int64_t days_from_civil(int year, int month, int day) {
    const int y = year - (month <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return static_cast<std::int64_t>(era) * 146097 + doe - 719468;
}

constexpr Date civil_from_days(std::int64_t days) {
    days += 719468;
    const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const std::int64_t doe = days - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    return {static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0)), month, day};
}

/// The day (since 1970-01-01, UTC) holding the Unix time `unix_ms` (before 1970 too).
constexpr std::int64_t day_of_unix_ms(std::int64_t unix_ms) {
    constexpr std::int64_t kMsPerDay = 86'400'000;
    return unix_ms / kMsPerDay - (unix_ms % kMsPerDay < 0 ? 1 : 0);
}

/// The Monday on or before `days` (1970-01-01 was a Thursday): PostgreSQL's date_trunc('week').
constexpr std::int64_t week_start(std::int64_t days) { return days - ((days % 7 + 7 + 3) % 7); }

/// The first day of the month of `days`: date_trunc('month').
constexpr std::int64_t month_start(std::int64_t days) {
    const Date date = civil_from_days(days);
    return days_from_civil(date.year, date.month, 1);
}

/// The first day of the month after the one of `days`.
constexpr std::int64_t next_month_start(std::int64_t days) {
    const Date date = civil_from_days(days);
    return date.month == 12 ? days_from_civil(date.year + 1, 1, 1) : days_from_civil(date.year, date.month + 1, 1);
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(day_of_unix_ms(-1) == -1 && day_of_unix_ms(86'400'000) == 1);
static_assert(week_start(0) == -3);  // Monday 1969-12-29
static_assert(week_start(days_from_civil(2026, 12, 2)) == days_from_civil(2026, 11, 30));
static_assert(month_start(days_from_civil(2024, 2, 29)) == days_from_civil(2024, 2, 1));
static_assert(next_month_start(days_from_civil(2026, 12, 31)) == days_from_civil(2027, 1, 1));

}  // namespace tk::calendar
