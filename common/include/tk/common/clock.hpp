#pragma once
/// The wall clock in Unix milliseconds: what event timestamps, UUIDv7s, retention cut-offs and
/// partition ranges are measured in. One place, so every part reads it the same way.
///
/// wall_clock_ms() adds a test-only override for the decisions tied to calendar months (a
/// collector's quota month, an agent's pause until the quota resets), which a test cannot wait
/// for: TK_TEST_NOW_FILE names a file holding Unix milliseconds, read again on every call, so the
/// test moves time by rewriting it. Unset (always, outside tests): the system clock.

#include <chrono>
#include <cstdint>

namespace tk {

/// Milliseconds since the Unix epoch (UTC) of `when`.
inline std::int64_t unix_ms(std::chrono::system_clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

/// Milliseconds since the Unix epoch (UTC), now.
inline std::int64_t now_unix_ms() { return unix_ms(std::chrono::system_clock::now()); }

/// now_unix_ms(), or the number in $TK_TEST_NOW_FILE when that is set and readable (unreadable
/// or not a number: now_unix_ms(), so a typo cannot stop time). Only quota and pause decisions
/// use it; timers and timestamps do not.
std::int64_t wall_clock_ms();

/// The UTC start of the calendar month holding `unix_ms`, and of the month after it. Pure.
std::int64_t utc_month_start_ms(std::int64_t unix_ms);
std::int64_t utc_next_month_start_ms(std::int64_t unix_ms);

}  // namespace tk
