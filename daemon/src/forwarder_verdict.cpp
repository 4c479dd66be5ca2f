#include "tk/agent/forwarder_verdict.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "tk/agent/backoff.hpp"

namespace tk::agent {

namespace {

/// Worth retrying: the request timed out, we were rate-limited, or the server failed.
bool retryable_status(unsigned status) { return status == 408 || status == 429 || status >= 500; }

BatchVerdict retry(std::string error, std::optional<std::chrono::milliseconds> retry_after = std::nullopt) {
    BatchVerdict verdict;
    verdict.action = BatchAction::retry;
    verdict.error = std::move(error);
    verdict.retry_after = retry_after;
    return verdict;
}

BatchVerdict from_ack(wire::AckOutcome outcome, std::size_t sent, std::int64_t now_unix_ms) {
    BatchVerdict verdict;
    if (outcome.quota_reset_unix_ms) {
        verdict.action = BatchAction::pause;
        verdict.paused_until_unix_ms =
            std::clamp(*outcome.quota_reset_unix_ms, now_unix_ms + kMinPause.count(), now_unix_ms + kMaxPause.count());
    } else {
        verdict.action = BatchAction::deliver;
        if (outcome.unanswered > 0) {
            verdict.error = fmt::format("the ack left {} of {} events unanswered", outcome.unanswered, sent);
        }
    }
    verdict.ack = std::move(outcome);
    return verdict;
}

}  // namespace

std::string http_error(const http::Response& response) {
    const std::string body = wire::short_body(response.body);
    return body.empty() ? fmt::format("HTTP {}", response.status) : fmt::format("HTTP {}: {}", response.status, body);
}

BatchVerdict batch_verdict(const http::Response& response, const std::vector<OutgoingEvent>& batch,
                           std::int64_t now_unix_ms) {
    if (response.aborted) return BatchVerdict{BatchAction::ignore, std::nullopt, "", std::nullopt, 0, 0};
    if (!response.error.empty()) return retry(response.error);
    if (response.status == 200) {
        auto outcome = wire::read_ack(response.body, batch);
        if (!outcome) return retry("HTTP 200 without a BatchAck");
        return from_ack(std::move(*outcome), batch.size(), now_unix_ms);
    }
    if (retryable_status(response.status)) {
        const auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(now_unix_ms));
        return retry(http_error(response), backoff::parse_retry_after(response.retry_after, now));
    }
    if (response.status == 413 && batch.size() > 1) {
        BatchVerdict verdict;
        verdict.action = BatchAction::shrink;
        verdict.batch_events = std::max<std::size_t>(1, batch.size() / 2);
        return verdict;
    }
    if (response.status >= 400 && response.status < 500) {
        BatchVerdict verdict;
        verdict.action = BatchAction::dead_letter;
        verdict.error = http_error(response);
        return verdict;
    }
    // 1xx/3xx/other 2xx: not what a collector says; keep the events and retry later.
    return retry("unexpected " + http_error(response));
}

}  // namespace tk::agent
