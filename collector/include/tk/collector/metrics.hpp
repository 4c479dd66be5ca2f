#pragma once
/// The collector's counters and latency histogram, rendered in Prometheus' text format for
/// GET /metrics. Thread-safe; updated once per request, never per event.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace tk::collector {

class Metrics {
public:
    /// One answered request: `route` is a fixed label ("batches", "subjects", ...).
    void count_request(std::string_view route, unsigned status);
    void count_events(std::uint64_t accepted, std::uint64_t duplicate);
    /// Rejected events by reason code (a fixed, small set of labels).
    void count_rejected(std::string_view reason_code, std::uint64_t count);
    void observe_batch_seconds(double seconds);
    void count_db_error();

    /// Prometheus text exposition format (version 0.0.4).
    std::string render() const;

private:
    static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,   0.25,   0.5,   1,    2.5,   5};
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_;
    std::uint64_t accepted_ = 0;
    std::uint64_t duplicate_ = 0;
    std::map<std::string, std::uint64_t> rejected_;
    std::array<std::uint64_t, kBuckets.size()> bucket_counts_{};
    std::uint64_t batch_count_ = 0;
    double batch_sum_ = 0;
    std::uint64_t db_errors_ = 0;
};

}  // namespace tk::collector
