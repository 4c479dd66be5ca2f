// The client's send/ack ledger (ledger.hpp): sequence numbers for sent events, the Flush that
// covers them, and the FlushAck that delivers them. How: a backlog and an in-flight queue in send
// order; a FlushAck pops the in-flight events up to its id; a lost connection moves the in-flight
// events back in front of the backlog so the next connection re-sends them in order.
#include "ledger.hpp"

#include <algorithm>

#include "wire.hpp"

namespace telemetry_kit::detail {

void SendLedger::enqueue(std::string event) {
    backlog_bytes_ += event.size();
    backlog_.push_back(std::move(event));
}

SendLedger::Sent SendLedger::send(std::string& out, clock::time_point now, bool flush_now) {
    Sent sent;
    while (!backlog_.empty()) {
        std::string event = std::move(backlog_.front());
        backlog_.pop_front();
        backlog_bytes_ -= event.size();
        wire::append_event_frame(out, event);
        inflight_bytes_ += event.size();
        inflight_.push_back(Inflight{std::move(event), next_seq_++});
        if (!uncovered_since_) uncovered_since_ = now;
        ++sent.events;
    }
    const std::uint64_t last = next_seq_ - 1;
    if (last <= covered_seq_) return sent;
    const bool due = flush_now || last - covered_seq_ >= policy_.flush_every_events ||
                     (uncovered_since_ && now - *uncovered_since_ >= policy_.flush_every);
    if (!due) return sent;
    wire::append_flush_frame(out, last, flush_deadline_ms());
    sent.flush = last;
    covered_seq_ = last;
    uncovered_since_.reset();
    if (!awaiting_ack_since_) awaiting_ack_since_ = now;
    return sent;
}

std::uint32_t SendLedger::flush_deadline_ms() const {
    // Long enough that a busy agent answers (late answers only mark it stalled), short enough
    // that an agent whose store is stuck does not hold the ack forever.
    return static_cast<std::uint32_t>(policy_.stall_after.count() * 4);
}

std::size_t SendLedger::acknowledge(std::uint64_t request_id, clock::time_point now) {
    std::size_t acked = 0;
    while (!inflight_.empty() && inflight_.front().seq <= request_id) {
        inflight_bytes_ -= inflight_.front().event.size();
        inflight_.pop_front();
        ++acked;
    }
    acked_seq_ = std::max(acked_seq_, request_id);
    // A later Flush is still unanswered: its wait starts now, not at the first Flush.
    if (acked_seq_ >= covered_seq_) {
        awaiting_ack_since_.reset();
    } else {
        awaiting_ack_since_ = now;
    }
    if (acked > 0) losses_without_progress_ = 0;
    return acked;
}

void SendLedger::connected() {
    covered_seq_ = acked_seq_ = next_seq_ - 1;
    uncovered_since_.reset();
    awaiting_ack_since_.reset();
}

bool SendLedger::connection_lost() {
    for (auto it = inflight_.rbegin(); it != inflight_.rend(); ++it) {
        backlog_bytes_ += it->event.size();
        backlog_.push_front(std::move(it->event));
    }
    inflight_.clear();
    inflight_bytes_ = 0;
    return ++losses_without_progress_ >= kMaxLossesWithoutProgress;
}

bool SendLedger::stalled(clock::time_point now) const {
    return awaiting_ack_since_ && now - *awaiting_ack_since_ > policy_.stall_after;
}

std::optional<SendLedger::clock::time_point> SendLedger::flush_due_at() const {
    if (!uncovered_since_) return std::nullopt;
    return *uncovered_since_ + policy_.flush_every;
}

std::optional<SendLedger::clock::time_point> SendLedger::stall_at() const {
    if (!awaiting_ack_since_) return std::nullopt;
    return *awaiting_ack_since_ + policy_.stall_after;
}

std::deque<std::string> SendLedger::take_backlog() {
    std::deque<std::string> events;
    events.swap(backlog_);
    backlog_bytes_ = 0;
    return events;
}

std::deque<std::string> SendLedger::take_unacknowledged() {
    std::deque<std::string> events;
    for (Inflight& event : inflight_) events.push_back(std::move(event.event));
    inflight_.clear();
    inflight_bytes_ = 0;
    for (std::string& event : backlog_) events.push_back(std::move(event));
    backlog_.clear();
    backlog_bytes_ = 0;
    return events;
}

void SendLedger::clear() noexcept {
    backlog_.clear();
    backlog_bytes_ = 0;
    inflight_.clear();
    inflight_bytes_ = 0;
    next_seq_ = 1;
    covered_seq_ = acked_seq_ = 0;
    uncovered_since_.reset();
    awaiting_ack_since_.reset();
    losses_without_progress_ = 0;
}

}  // namespace telemetry_kit::detail
