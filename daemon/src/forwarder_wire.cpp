// The forwarder's bytes (forwarder_wire.hpp): a Batch from stored events, a BatchAck sorted out.
#include "tk/agent/forwarder_wire.hpp"

#include <unordered_set>

#include "telemetry_kit/v1/collector.pb.h"
#include "tk/common/varint.hpp"

namespace tk::agent::wire {

namespace {

constexpr char kEventsFieldTag = 0x0A;  // field 1 (Batch.events), wire type 2 (length-delimited)

}  // namespace

std::size_t framing_overhead(std::size_t event_size) { return 1 + varint_size(event_size); }

std::string encode_batch(const std::vector<OutgoingEvent>& events) {
    std::size_t total = 0;
    for (const auto& e : events) total += framing_overhead(e.event.size()) + e.event.size();
    std::string body;
    body.reserve(total);
    for (const auto& e : events) {
        body.push_back(kEventsFieldTag);
        append_varint(body, e.event.size());
        body += e.event;
    }
    return body;
}

std::optional<AckOutcome> read_ack(const std::string& body, const std::vector<OutgoingEvent>& sent) {
    telemetry_kit::v1::BatchAck ack;
    if (!ack.ParseFromString(body)) return std::nullopt;
    std::unordered_set<std::string> waiting;
    for (const auto& e : sent) waiting.insert(e.id);
    AckOutcome outcome;
    // Only ids we sent, each once: a confused collector cannot make us delete anything else.
    auto take = [&](const std::string& id) { return waiting.erase(id) == 1; };
    for (const auto& id : ack.accepted()) {
        if (take(id)) {
            outcome.delivered.push_back(id);
            ++outcome.accepted;
        }
    }
    for (const auto& id : ack.duplicate()) {
        if (take(id)) {
            outcome.delivered.push_back(id);
            ++outcome.duplicate;
        }
    }
    for (const auto& rejected : ack.rejected()) {
        if (take(rejected.id())) {
            const std::string reason = rejected.reason().empty() ? "rejected" : "rejected: " + rejected.reason();
            outcome.rejected[reason].push_back(rejected.id());
            ++outcome.rejected_count;
        }
    }
    outcome.unanswered = waiting.size();
    if (ack.has_quota_exceeded()) outcome.quota_reset_unix_ms = ack.quota_exceeded().reset_unix_ms();
    return outcome;
}

std::string short_body(std::string_view body, std::size_t limit) {
    std::string out;
    for (char c : body) {
        if (out.size() >= limit) {
            out += "...";
            break;
        }
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        if (c >= 0x20 && c < 0x7F) out.push_back(c);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

ErasureVerdict erasure_verdict(unsigned status, std::string_view body) {
    if (status == 204) return ErasureVerdict::done;
    // A 200 from something that is not the collector (a captive portal, a catch-all page) erased nothing.
    if (status == 200)
        return body.find("\"deleted\"") != std::string_view::npos ? ErasureVerdict::done : ErasureVerdict::retry;
    if (status == 408 || status == 429 || status >= 500) return ErasureVerdict::retry;
    if (status >= 400) return ErasureVerdict::refused;
    return ErasureVerdict::retry;
}

}  // namespace tk::agent::wire
