#include "tk/collector/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace tk::collector {

RateLimiter::RateLimiter(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {}

int RateLimiter::acquire(const std::string& key, Clock::time_point now) {
    if (rate_ <= 0) return 0;
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
        if (buckets_.size() >= kMaxBuckets) {
            // Forget the buckets that have refilled anyway: they hold no state worth keeping.
            for (auto i = buckets_.begin(); i != buckets_.end();) {
                const double seconds = std::chrono::duration<double>(now - i->second.updated).count();
                i = (i->second.tokens + seconds * rate_ >= burst_) ? buckets_.erase(i) : std::next(i);
            }
            if (buckets_.size() >= kMaxBuckets) buckets_.clear();
        }
        it = buckets_.emplace(key, Bucket{burst_, now}).first;
    }
    Bucket& bucket = it->second;
    const double seconds = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, seconds) * rate_);
    bucket.updated = now;
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return 0;
    }
    return std::max(1, static_cast<int>(std::ceil((1.0 - bucket.tokens) / rate_)));
}

}  // namespace tk::collector
