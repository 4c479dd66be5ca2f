#pragma once
/// The client's send/ack ledger: which events wait to be sent, which were sent and wait for the
/// agent's FlushAck, and what is left to spool when the connection breaks or the process ends.
///
/// Pure bookkeeping, apart from the connection that core.cpp owns: no sockets, no clock reads
/// (the time is passed in), so every decision here is unit-tested without an agent
/// (tests/client/test_ledger.cpp).
///
/// An event's life in the ledger:
///
///     enqueue ──▶ backlog ──send()──▶ in flight (seq n) ──acknowledge(id ≥ n)──▶ gone (delivered)
///                    ▲                     │
///                    └──connection_lost()──┘   (in order, at the front: re-sent; the agent dedups)
///
/// Every sent event gets the next sequence number; a Flush carries the highest one sent so far as
/// its request id, and its FlushAck (same id) covers every event with a sequence number up to it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace telemetry_kit::detail {

class SendLedger {
public:
    using clock = std::chrono::steady_clock;

    /// When send() asks for an ack, and when an unanswered ask means the agent is stalled.
    struct Policy {
        std::size_t flush_every_events = 256;        ///< this many sent events uncovered by a Flush...
        std::chrono::milliseconds flush_every{100};  ///< ...or the oldest of them this old: a Flush
        std::chrono::milliseconds stall_after{500};  ///< a FlushAck this late: the agent is stalled
    };

    /// Connections lost in a row without an ack in between after which the agent is given up on
    /// (it may reject one of our events each time): the caller spools instead of re-sending.
    static constexpr std::uint32_t kMaxLossesWithoutProgress = 3;

    explicit SendLedger(Policy policy) : policy_(policy) {}

    /// Appends a serialized event to the backlog.
    void enqueue(std::string event);

    /// What send() wrote: how many events, and the Flush's request id if it wrote one.
    struct Sent {
        std::size_t events = 0;
        std::optional<std::uint64_t> flush;
    };
    /// Appends the whole backlog to `out` as Event frames (each now in flight) and, if one is due
    /// (`flush_now`, flush_every_events, or flush_every since the oldest uncovered send), a Flush
    /// that covers everything sent so far.
    Sent send(std::string& out, clock::time_point now, bool flush_now);

    /// A FlushAck for `request_id`: the events it covers are delivered. Returns how many.
    std::size_t acknowledge(std::uint64_t request_id, clock::time_point now);

    /// A new connection: nothing sent on it is covered by a Flush or acknowledged yet.
    void connected();
    /// The connection broke: what was in flight goes back to the front of the backlog, in order.
    /// True if the agent keeps breaking it without acknowledging anything
    /// (kMaxLossesWithoutProgress in a row): the caller should spool rather than re-send.
    bool connection_lost();

    /// A Flush has waited longer than stall_after for its FlushAck.
    bool stalled(clock::time_point now) const;
    /// When send() will next be due to write a Flush by age (nullopt: nothing sent uncovered).
    std::optional<clock::time_point> flush_due_at() const;
    /// When an outstanding Flush will count as stalled (nullopt: none outstanding).
    std::optional<clock::time_point> stall_at() const;

    /// The backlog, emptied (to spool it while there is no connection).
    std::deque<std::string> take_backlog();
    /// Every event not acknowledged, emptied: in flight first (the older), then the backlog. At
    /// exit these go to the spool (an event the agent did read is then imported twice, which is
    /// harmless: the agent dedups by id).
    std::deque<std::string> take_unacknowledged();
    /// Forgets everything (a forked child: the parent's events are the parent's to deliver).
    void clear() noexcept;

    /// Events and bytes held: in the backlog plus in flight (the caller bounds these).
    std::size_t held_events() const { return backlog_.size() + inflight_.size(); }
    std::size_t held_bytes() const { return backlog_bytes_ + inflight_bytes_; }
    bool backlog_empty() const { return backlog_.empty(); }
    std::size_t in_flight() const { return inflight_.size(); }

private:
    struct Inflight {
        std::string event;
        std::uint64_t seq;  // covered by a FlushAck whose request_id >= seq
    };

    /// The deadline the agent gets to answer a Flush (it stops waiting for its store then).
    std::uint32_t flush_deadline_ms() const;

    Policy policy_;
    std::deque<std::string> backlog_;
    std::size_t backlog_bytes_ = 0;
    std::deque<Inflight> inflight_;
    std::size_t inflight_bytes_ = 0;
    std::uint64_t next_seq_ = 1;
    std::uint64_t covered_seq_ = 0;  // highest seq a sent Flush covers
    std::uint64_t acked_seq_ = 0;
    std::optional<clock::time_point> uncovered_since_;  // oldest send no Flush covers yet
    std::optional<clock::time_point> awaiting_ack_since_;
    std::uint32_t losses_without_progress_ = 0;
};

}  // namespace telemetry_kit::detail
