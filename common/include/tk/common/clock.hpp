#pragma once
/// The wall clock in Unix milliseconds: what event timestamps, UUIDv7s, retention cut-offs and
/// partition ranges are measured in. One place, so every part reads it the same way.

#include <chrono>
#include <cstdint>

namespace tk {

/// Milliseconds since the Unix epoch (UTC) of `when`.
inline std::int64_t unix_ms(std::chrono::system_clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

/// Milliseconds since the Unix epoch (UTC), now.
inline std::int64_t now_unix_ms() { return unix_ms(std::chrono::system_clock::now()); }

}  // namespace tk
