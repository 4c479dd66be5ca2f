// Token buckets per name with a bounded, LRU set of buckets (rate_limiter.hpp).
#include "tk/collector/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace tk::collector {

RateLimiter::RateLimiter(double rate, double burst, std::size_t capacity)
    : rate_(rate), burst_(std::max(burst, 1.0)), buckets_(capacity) {}

int RateLimiter::acquire(const std::string& name, Clock::time_point now) {
    if (rate_ <= 0) return 0;
    std::lock_guard lock(mutex_);
    Bucket* bucket = buckets_.find(name);
    // A forgotten bucket had not been used for longer than any kept one: starting it full is
    // what it would mostly have refilled to anyway.
    if (bucket == nullptr) bucket = &buckets_.put(name, Bucket{burst_, now});
    const double seconds = std::chrono::duration<double>(now - bucket->updated).count();
    bucket->tokens = std::min(burst_, bucket->tokens + std::max(0.0, seconds) * rate_);
    bucket->updated = now;
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return 0;
    }
    return std::max(1, static_cast<int>(std::ceil((1.0 - bucket->tokens) / rate_)));
}

}  // namespace tk::collector
