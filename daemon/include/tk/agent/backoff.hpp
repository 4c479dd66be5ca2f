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

/// The delay before the next attempt: `Retry-After` when the server sent one, else full jitter;
/// either way never above `cap` (a server cannot park the agent for longer than the person allows).
std::chrono::milliseconds next_delay(unsigned failures, std::optional<std::chrono::milliseconds> retry_after,
                                     std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                                     std::mt19937_64& rng);

}  // namespace tk::agent::backoff
