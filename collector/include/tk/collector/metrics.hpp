#pragma once
/// The collector's counters and latency histogram, rendered in Prometheus' text format for
/// GET /metrics. Thread-safe; updated once per request, never per event.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
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
    /// A tool's usage this month and its quota (nullopt: none), from the last batch stored or the
    /// last housekeeping pass (tenants.hpp). At most one entry per tool with a key.
    void set_tool_usage(const std::string& tool, std::int64_t used, std::optional<std::int64_t> quota);
    /// A batch refused because its tool is past its quota plus grace.
    void count_quota_exceeded(const std::string& tool);

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
    struct ToolUsage {
        std::int64_t used = 0;
        std::optional<std::int64_t> quota;
        std::uint64_t refused_batches = 0;
    };
    std::map<std::string, ToolUsage> tool_usage_;
};

}  // namespace tk::collector
