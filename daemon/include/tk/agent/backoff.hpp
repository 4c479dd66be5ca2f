#pragma once
/// Retry timing for the forwarder: exponential backoff with full jitter, and the HTTP
/// `Retry-After` header (delay-seconds or an HTTP-date). Pure functions, no clock reads.

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace tk::agent::backoff {

/// The ceiling of the jitter window after `failures` consecutive failures (1 = the first):
/// `initial * 2^(failures-1)`, never above `cap`.
std::chrono::milliseconds ceiling(unsigned failures, std::chrono::milliseconds initial, std::chrono::milliseconds cap);

/// Full jitter: a uniformly random delay in [0, ceiling(failures, initial, cap)].
std::chrono::milliseconds full_jitter(unsigned failures, std::chrono::milliseconds initial,
                                      std::chrono::milliseconds cap, std::mt19937_64& rng);

/// Parses a `Retry-After` value: a non-negative number of seconds, or an HTTP-date
/// (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"; the obsolete RFC 850 and asctime forms too),
/// measured from `now`. A date in the past gives zero. Unparseable: nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

/// Bounds on a server's `Retry-After`: never sooner than `floor` (so "0" or a date in the past
/// cannot make a tight loop), never later than `cap` (a server cannot park the agent for days).
inline constexpr std::chrono::milliseconds kRetryAfterFloor{1000};
inline constexpr std::chrono::milliseconds kRetryAfterCap{std::chrono::hours(1)};

/// When a server said `Retry-After: d`: d clamped to [floor, cap], plus a random spread of up to
/// a tenth of it (at least up to 1 s), so agents refused at the same moment do not all come back
/// at the same moment. Never sooner than asked.
std::chrono::milliseconds retry_after_delay(std::chrono::milliseconds retry_after, std::chrono::milliseconds floor,
                                            std::chrono::milliseconds cap, std::mt19937_64& rng);

/// The delay before the next attempt: retry_after_delay() when the server sent `Retry-After`
/// (bounded by `retry_after_cap`), else full jitter up to `cap`.
std::chrono::milliseconds next_delay(unsigned failures, std::optional<std::chrono::milliseconds> retry_after,
                                     std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                                     std::mt19937_64& rng, std::chrono::milliseconds retry_after_cap = kRetryAfterCap);

}  // namespace tk::agent::backoff
