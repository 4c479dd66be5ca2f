// The collector's counters and latency histogram in Prometheus' text format (metrics.hpp).
#include "tk/collector/metrics.hpp"

#include <fmt/format.h>

namespace tk::collector {

void Metrics::count_request(std::string_view route, unsigned status) {
    std::lock_guard lock(mutex_);
    ++requests_[{std::string(route), status}];
}

void Metrics::count_events(std::uint64_t accepted, std::uint64_t duplicate) {
    std::lock_guard lock(mutex_);
    accepted_ += accepted;
    duplicate_ += duplicate;
}

void Metrics::count_rejected(std::string_view reason_code, std::uint64_t count) {
    std::lock_guard lock(mutex_);
    rejected_[std::string(reason_code)] += count;
}

void Metrics::observe_batch_seconds(double seconds) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) ++bucket_counts_[i];  // Prometheus buckets are cumulative
    }
    ++batch_count_;
    batch_sum_ += seconds;
}

void Metrics::count_db_error() {
    std::lock_guard lock(mutex_);
    ++db_errors_;
}

void Metrics::set_tool_usage(const std::string& tool, std::int64_t used, std::optional<std::int64_t> quota) {
    std::lock_guard lock(mutex_);
    auto& usage = tool_usage_[tool];
    usage.used = used;
    usage.quota = quota;
}

void Metrics::count_quota_exceeded(const std::string& tool) {
    std::lock_guard lock(mutex_);
    ++tool_usage_[tool].refused_batches;
}

namespace {

/// A label value in Prometheus' text format: backslash, double quote and newline escaped.
std::string label_value(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace

std::string Metrics::render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    auto line = [&out](auto&&... args) { fmt::format_to(std::back_inserter(out), args...); };
    line("# HELP tk_collector_requests_total HTTP requests answered, by route and status.\n");
    line("# TYPE tk_collector_requests_total counter\n");
    for (const auto& [key, count] : requests_) {
        line("tk_collector_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
    }
    line("# HELP tk_collector_events_total Events named in batch acks, by result.\n");
    line("# TYPE tk_collector_events_total counter\n");
    line("tk_collector_events_total{{result=\"accepted\"}} {}\n", accepted_);
    line("tk_collector_events_total{{result=\"duplicate\"}} {}\n", duplicate_);
    std::uint64_t rejected_total = 0;
    for (const auto& entry : rejected_) rejected_total += entry.second;
    line("tk_collector_events_total{{result=\"rejected\"}} {}\n", rejected_total);
    line("# HELP tk_collector_events_rejected_total Rejected events, by reason.\n");
    line("# TYPE tk_collector_events_rejected_total counter\n");
    for (const auto& [reason, count] : rejected_) {
        line("tk_collector_events_rejected_total{{reason=\"{}\"}} {}\n", reason, count);
    }
    line("# HELP tk_collector_batch_duration_seconds Time from a batch fully read to its ack ready.\n");
    line("# TYPE tk_collector_batch_duration_seconds histogram\n");
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        line("tk_collector_batch_duration_seconds_bucket{{le=\"{}\"}} {}\n", kBuckets[i], bucket_counts_[i]);
    }
    line("tk_collector_batch_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", batch_count_);
    line("tk_collector_batch_duration_seconds_sum {}\n", batch_sum_);
    line("tk_collector_batch_duration_seconds_count {}\n", batch_count_);
    line("# HELP tk_collector_db_errors_total Failed database operations (outages and SQL errors).\n");
    line("# TYPE tk_collector_db_errors_total counter\n");
    line("tk_collector_db_errors_total {}\n", db_errors_);
    line("# HELP tk_collector_tool_events_this_month Events accepted this calendar month (UTC), per tool.\n");
    line("# TYPE tk_collector_tool_events_this_month gauge\n");
    for (const auto& [tool, usage] : tool_usage_) {
        line("tk_collector_tool_events_this_month{{tool=\"{}\"}} {}\n", label_value(tool), usage.used);
    }
    line(
        "# HELP tk_collector_tool_monthly_quota Events a month the tool may send (tools without a quota are "
        "absent).\n");
    line("# TYPE tk_collector_tool_monthly_quota gauge\n");
    for (const auto& [tool, usage] : tool_usage_) {
        if (usage.quota) line("tk_collector_tool_monthly_quota{{tool=\"{}\"}} {}\n", label_value(tool), *usage.quota);
    }
    line("# HELP tk_collector_quota_exceeded_total Batches refused because the tool was past its quota plus grace.\n");
    line("# TYPE tk_collector_quota_exceeded_total counter\n");
    for (const auto& [tool, usage] : tool_usage_) {
        line("tk_collector_quota_exceeded_total{{tool=\"{}\"}} {}\n", label_value(tool), usage.refused_batches);
    }
    return out;
}

}  // namespace tk::collector
