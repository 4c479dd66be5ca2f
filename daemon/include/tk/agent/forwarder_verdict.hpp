#pragma once
/// The forwarder's verdict on a collector's answer to one batch: what to do with the batch and
/// with its destination. A pure function (no clock reads, no I/O), so every answer a collector or
/// something in front of it can give is unit-tested without sockets (tests/forwarder/test_verdict.cpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tk/agent/forwarder_wire.hpp"
#include "tk/agent/http_client.hpp"
#include "tk/agent/outbox.hpp"

namespace tk::agent {

enum class BatchAction {
    ignore,       ///< the request was aborted (the forwarder is stopping): nothing to record
    deliver,      ///< a BatchAck: delete what it names delivered, dead-letter what it rejects
    retry,        ///< keep the batch; back off (network error, 408, 429, 5xx, an answer no collector gives)
    shrink,       ///< 413 for a batch of several events: send it again at once in smaller batches
    dead_letter,  ///< refused for good (other 4xx): move the whole batch to the dead letters
    pause,        ///< quota_exceeded: apply the ack, keep the rest, send nothing more until paused_until
};

struct BatchVerdict {
    BatchAction action = BatchAction::retry;
    std::optional<wire::AckOutcome> ack;                   ///< deliver and pause
    std::string error;                                     ///< why, in words, for status (retry, dead_letter; deliver
                                                           ///< when the ack left events unanswered: retry those later)
    std::optional<std::chrono::milliseconds> retry_after;  ///< retry: the server's Retry-After, parsed
    std::size_t batch_events = 0;                          ///< shrink: events per batch from now on
    std::int64_t paused_until_unix_ms = 0;                 ///< pause
};

/// A collector's reset time is taken within these bounds of the agent's clock: never sooner than
/// kMinPause (a collector whose clock is behind ours would otherwise be asked again at once, and
/// refuse again), never later than kMaxPause (a confused collector cannot park a tool for years).
inline constexpr std::chrono::milliseconds kMinPause{std::chrono::minutes(1)};
inline constexpr std::chrono::milliseconds kMaxPause{std::chrono::hours(24 * 32)};

/// The verdict on `response` to `batch`, at `now_unix_ms` (the agent's wall clock).
BatchVerdict batch_verdict(const http::Response& response, const std::vector<OutgoingEvent>& batch,
                           std::int64_t now_unix_ms);

/// "HTTP 503: body…" for status and logs.
std::string http_error(const http::Response& response);

}  // namespace tk::agent
