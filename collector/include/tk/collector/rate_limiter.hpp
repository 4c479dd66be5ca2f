#pragma once
/// Request rate limits: a token bucket per name (a key hash, a client address, or both), refilled
/// at `rate` per second up to `burst`. At most `capacity` buckets are kept; to make room the least
/// recently used is forgotten (never all of them, so a flood of new names cannot reset the
/// buckets that are being drained). Thread-safe; the clock is a parameter, for the unit tests.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include "tk/collector/lru_map.hpp"

namespace tk::collector {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    /// `rate` <= 0 disables the limit.
    RateLimiter(double rate, double burst, std::size_t capacity = 50000);

    /// Takes one token for `name`. Returns 0 if allowed, else the whole seconds (>= 1) to wait
    /// before a token is available (for Retry-After).
    int acquire(const std::string& name, Clock::time_point now = Clock::now());

    bool enabled() const { return rate_ > 0; }

private:
    struct Bucket {
        double tokens;
        Clock::time_point updated;
    };

    double rate_;
    double burst_;
    std::mutex mutex_;
    LruMap<std::string, Bucket> buckets_;
};

}  // namespace tk::collector
