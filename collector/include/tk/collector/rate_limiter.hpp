#pragma once
/// Per-key request rate limit: a token bucket per ingest key (by key hash), refilled at `rate`
/// per second up to `burst`. Thread-safe.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tk::collector {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    /// `rate` <= 0 disables the limit.
    RateLimiter(double rate, double burst);

    /// Takes one token for `key`. Returns 0 if allowed, else the whole seconds (>= 1) to wait
    /// before a token is available (for Retry-After).
    int acquire(const std::string& key, Clock::time_point now = Clock::now());

private:
    struct Bucket {
        double tokens;
        Clock::time_point updated;
    };
    static constexpr std::size_t kMaxBuckets = 10000;  // bounds memory under a flood of made-up keys

    double rate_;
    double burst_;
    std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace tk::collector
