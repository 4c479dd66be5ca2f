#pragma once
/// Forwarder: sends queued events to each destination's collector as protobuf Batches over
/// HTTP(S), deletes them only when the ack names them, retries with backoff, dead-letters what
/// the collector refuses, and pauses a destination its collector says is over quota (the state
/// diagram is at the top of forwarder.cpp). Runs on its own thread; idle (no wake-ups) when there is nothing to send.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "telemetry_kit/v1/agent.pb.h"
#include "tk/agent/outbox.hpp"

namespace tk::agent {

struct ForwarderOptions {
    std::size_t max_batch_events = 500;
    std::size_t max_batch_bytes = 1u << 20;
    /// After new events arrive, wait this long for more before sending (coalescing).
    std::chrono::milliseconds coalesce{200};
    std::chrono::milliseconds initial_backoff{1000};
    std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
    /// A server's Retry-After is honoured up to this long (and never under 1 s); see backoff.hpp.
    std::chrono::milliseconds max_retry_after{std::chrono::hours(1)};
    std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
    /// Batches in flight at once per destination (each on its own kept-alive connection) while
    /// a backlog drains. 1 = strictly one request at a time.
    std::size_t max_in_flight = 4;
    /// Extra CA bundle (PEM) for self-hosted collectors; empty = the system's trust store only.
    std::string ca_file;
    /// Local log of what was sent (one line per batch); empty = none.
    std::filesystem::path sent_log;
    /// Past this size the sent log is moved to `<sent_log>.1` (replacing it) and started afresh.
    std::size_t sent_log_max_bytes = 1u << 20;
};

class Forwarder {
public:
    Forwarder(Outbox& outbox, ForwarderOptions options);
    ~Forwarder();  ///< stops
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    /// Starts the forwarding thread and sends whatever is already queued.
    void start();
    /// New sendable events were committed, or an erasure was queued. Thread-safe, cheap.
    void notify();
    /// Cancels timers and in-flight requests and joins the thread. Idempotent.
    void stop();

    /// Asks whether there is anything it could send now: queued events with a destination, an
    /// erasure, a request in flight, a retry or a notify() not yet looked at. (Events stored with
    /// no destination are never sent and do not count.) `answer` runs once, on the forwarding
    /// thread after everything notified before the call; at once with false if the thread is not
    /// running. Thread-safe. The agent's idle exit asks this before it exits.
    void has_work(std::function<void(bool)> answer);

    /// Why the last look at the whole queue failed (the store could not be read), or "" if it
    /// worked. While it fails the forwarder retries with backoff and has_work() answers true.
    /// Thread-safe.
    std::string local_error() const;

    /// The destinations paused by their collector (quota_exceeded) and until when: saved in the
    /// store, so an agent restart comes back paused. Thread-safe.
    std::vector<Pause> pauses() const;

    /// Per destination: last attempt, last success, last error, next retry, sent.
    /// (queued and dead_lettered are filled in by the caller from the store.) Thread-safe.
    std::vector<telemetry_kit::v1::DestinationStatus> status() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tk::agent
