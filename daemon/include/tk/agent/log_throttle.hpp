#pragma once
/// At most one log line per interval for a condition that can repeat thousands of times a second
/// (connections refused over the cap, accept failing for want of descriptors), so the log says
/// what happened without flooding the disk. Pure: the caller passes the time.

#include <chrono>
#include <cstdint>

namespace tk::agent {

class LogThrottle {
public:
    using Clock = std::chrono::steady_clock;
    explicit LogThrottle(Clock::duration interval) : interval_(interval) {}

    /// Counts one occurrence at `now`; true if it may be logged. Then `held_back()` is how many
    /// occurrences since the last logged one were not.
    bool allow(Clock::time_point now) {
        if (logged_once_ && now - last_ < interval_) {
            ++pending_;
            return false;
        }
        held_back_ = pending_;
        pending_ = 0;
        last_ = now;
        logged_once_ = true;
        return true;
    }
    std::uint64_t held_back() const { return held_back_; }

private:
    Clock::duration interval_;
    Clock::time_point last_{};
    bool logged_once_ = false;
    std::uint64_t pending_ = 0;
    std::uint64_t held_back_ = 0;
};

}  // namespace tk::agent
