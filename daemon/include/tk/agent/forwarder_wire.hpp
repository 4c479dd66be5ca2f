#pragma once
/// What the forwarder puts on the wire and reads back: the Batch body built from already
/// serialized events, and the BatchAck sorted into what to delete, dead-letter or keep.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tk/agent/outbox.hpp"

namespace tk::agent::wire {

/// A serialized telemetry_kit.v1.Batch holding `events` (each as field 1, copied verbatim).
std::string encode_batch(const std::vector<OutgoingEvent>& events);

/// Bytes `encode_batch` adds around one event of `event_size` bytes (tag and length).
std::size_t framing_overhead(std::size_t event_size);

/// A BatchAck, restricted to the ids that were actually sent.
struct AckOutcome {
    std::vector<std::string> delivered;                        ///< accepted or duplicate: delete
    std::map<std::string, std::vector<std::string>> rejected;  ///< reason -> ids: dead-letter
    std::size_t accepted = 0;
    std::size_t duplicate = 0;
    std::size_t rejected_count = 0;
    std::size_t unanswered = 0;  ///< sent but not named: stay queued
    /// The collector's quota_exceeded: the tool is past its monthly quota until this time (Unix
    /// ms, the collector's clock); nothing named above was stored except what it says.
    std::optional<std::int64_t> quota_reset_unix_ms;
};

/// Parses a BatchAck body against what was sent; nullopt if it is not a BatchAck.
std::optional<AckOutcome> read_ack(const std::string& body, const std::vector<OutgoingEvent>& sent);

/// At most `limit` bytes of an HTTP body, printable ASCII only, for error messages.
std::string short_body(std::string_view body, std::size_t limit = 200);

/// What an answer to `DELETE /v1/subjects/{id}` means for the erasure request.
enum class ErasureVerdict {
    done,     ///< the collector erased (200 with its {"deleted": n} answer, or 204)
    retry,    ///< try again later: 408, 429, 5xx, or an answer no collector gives (3xx, a 200 without its body)
    refused,  ///< refused for good: any other 4xx. 404 too: no collector route answered, so nothing was erased
};
ErasureVerdict erasure_verdict(unsigned status, std::string_view body);

}  // namespace tk::agent::wire
