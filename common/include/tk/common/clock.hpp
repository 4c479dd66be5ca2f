#pragma once
/// The wall clock, with a test-only override. Month boundaries (a collector's quota month, an
/// agent's pause until the quota resets) cannot be waited for in a test, so a test may point
/// TK_TEST_NOW_FILE at a file holding Unix milliseconds; the file is read again on every call, so
/// the test moves time by rewriting it. Unset (always, outside tests): std::chrono::system_clock.
/// Only the decisions about quotas and pauses use this clock; timers and timestamps do not.

#include <cstdint>

namespace tk {

/// Unix milliseconds now: system_clock, or the number in $TK_TEST_NOW_FILE when that is set and
/// readable (unreadable or not a number: system_clock, so a typo cannot stop time).
std::int64_t wall_clock_ms();

/// The UTC start of the calendar month holding `unix_ms`, and of the month after it. Pure.
std::int64_t utc_month_start_ms(std::int64_t unix_ms);
std::int64_t utc_next_month_start_ms(std::int64_t unix_ms);

}  // namespace tk
