#pragma once
/// The seam between the store and the forwarder. The store (EventStore) implements Outbox; the
/// Forwarder only ever sees this interface. Every method is thread-safe: the forwarder calls it
/// from its own thread, and the implementation uses its own SQLite connection (WAL).
/// Every method can fail (a full disk, a locked or corrupt database): the failure is its result,
/// never an empty answer, so the forwarder can tell "nothing to send" from "could not look".

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tk/common/result.hpp"

namespace tk::agent {

/// Where a tool's events go: its collector and ingest key (DESIGN.md: each tool names its own).
struct Destination {
    std::string endpoint;    ///< collector base URL, e.g. "https://telemetry.example.com"
    std::string ingest_key;  ///< sent as `Authorization: Bearer <key>`; never logged

    friend bool operator==(const Destination& a, const Destination& b) {
        return a.endpoint == b.endpoint && a.ingest_key == b.ingest_key;
    }
    friend bool operator<(const Destination& a, const Destination& b) {
        return a.endpoint != b.endpoint ? a.endpoint < b.endpoint : a.ingest_key < b.ingest_key;
    }
};

/// One queued event, ready to send.
struct OutgoingEvent {
    std::string id;     ///< the 16-byte event id
    std::string event;  ///< serialized telemetry_kit.v1.Event, anonymous_id already set, scrubbed
};

/// A `tk forget` that still has to reach the collector: erase what it holds for an old id.
struct ErasureRequest {
    std::int64_t request_id = 0;
    Destination destination;
    std::string anonymous_id;  ///< the tool's old (now rotated) anonymous id
};

/// A collector told the agent to stop sending a tool's events to it until a time (a BatchAck
/// with quota_exceeded). Kept in the store so that a restart does not start a retry storm.
struct Pause {
    Destination destination;
    std::string tool;    ///< the tool behind the destination's ingest key, for tk status
    std::string reason;  ///< in words, e.g. "monthly quota"
    std::int64_t until_unix_ms = 0;
};

class Outbox {
public:
    virtual ~Outbox() = default;

    /// Destinations with queued events that may be sent (consented, not local-only).
    virtual Result<std::vector<Destination>> pending_destinations() = 0;

    /// The oldest queued events for `destination`: at most `max_events`, and stopping before
    /// `max_bytes` of serialized events (but always at least one event if any is queued).
    virtual Result<std::vector<OutgoingEvent>> next_batch(const Destination& destination, std::size_t max_events,
                                                          std::size_t max_bytes) = 0;

    /// The collector acknowledged these ids (accepted or duplicate): delete them from the queue.
    virtual Result<void> remove_delivered(const std::vector<std::string>& ids) = 0;

    /// The collector refused these for good: move them to the dead-letter table with `reason`.
    virtual Result<void> dead_letter(const std::vector<std::string>& ids, const std::string& reason) = 0;

    /// Erasure requests not yet acknowledged by their collector.
    virtual Result<std::vector<ErasureRequest>> pending_erasures() = 0;

    /// The collector acknowledged the erasure request: forget it.
    virtual Result<void> erasure_done(std::int64_t request_id) = 0;

    /// The collector refused the erasure request for good (a 4xx that is not "try again", or an
    /// endpoint that cannot be parsed): it is no longer pending, and is kept with `reason` among
    /// the refused erasures that `tk status` shows (bounded, and expiring like dead letters).
    virtual Result<void> erasure_refused(std::int64_t request_id, const std::string& reason) = 0;

    /// Records a pause for its destination (replacing an earlier one).
    virtual Result<void> save_pause(const Pause& pause) = 0;
    /// Forgets the destination's pause (it ended).
    virtual Result<void> clear_pause(const Destination& destination) = 0;
    /// Every recorded pause, ended or not (the forwarder decides with its clock).
    virtual Result<std::vector<Pause>> pauses() = 0;
};

}  // namespace tk::agent
