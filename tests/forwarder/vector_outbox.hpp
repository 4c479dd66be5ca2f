#pragma once
/// An in-memory Outbox for the forwarder's own tests (the end-to-end tests use the agent's real
/// store). Thread-safe like the real one; counts calls so a test can see the forwarder idle.

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "telemetry_kit/v1/event.pb.h"
#include "tk/agent/outbox.hpp"
#include "tk/common/uuid.hpp"

namespace tk::test {

class VectorOutbox : public tk::agent::Outbox {
public:
    using Destination = tk::agent::Destination;
    using OutgoingEvent = tk::agent::OutgoingEvent;

    /// Queues an event of `tool` (a fresh UUIDv7 id) for `destination`; returns its id.
    std::string add(const Destination& destination, const std::string& tool, const std::string& name = "run",
                     const std::string& anonymous_id = "anon-1") {
        telemetry_kit::v1::Event event;
        event.set_id(tk::to_bytes(tk::uuid_v7()));
        event.set_tool(tool);
        event.set_tool_version("1.0.0");
        event.set_kind(telemetry_kit::v1::EVENT_KIND_COMMAND);
        event.set_name(name);
        event.set_timestamp_unix_ms(static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7())));
        event.set_anonymous_id(anonymous_id);
        (*event.mutable_attributes())["n"].set_int_value(1);
        std::lock_guard lock(mutex_);
        queue_[destination].push_back({event.id(), event.SerializeAsString()});
        return event.id();
    }
    void add_erasure(const Destination& destination, const std::string& anonymous_id) {
        std::lock_guard lock(mutex_);
        erasures_.push_back({++last_request_, destination, anonymous_id});
    }

    std::size_t queued() const {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto& [d, events] : queue_) n += events.size();
        return n;
    }
    std::size_t queued(const Destination& destination) const {
        std::lock_guard lock(mutex_);
        auto it = queue_.find(destination);
        return it == queue_.end() ? 0 : it->second.size();
    }
    /// id -> reason
    std::map<std::string, std::string> dead_letters() const {
        std::lock_guard lock(mutex_);
        return dead_;
    }
    std::size_t delivered() const {
        std::lock_guard lock(mutex_);
        return delivered_;
    }
    std::size_t erasures_pending() const {
        std::lock_guard lock(mutex_);
        return erasures_.size();
    }

    std::atomic<int> calls{0};

    std::vector<Destination> pending_destinations() override {
        ++calls;
        std::lock_guard lock(mutex_);
        std::vector<Destination> out;
        for (const auto& [d, events] : queue_) {
            if (!events.empty()) out.push_back(d);
        }
        return out;
    }
    std::vector<OutgoingEvent> next_batch(const Destination& destination, std::size_t max_events,
                                          std::size_t max_bytes) override {
        ++calls;
        std::lock_guard lock(mutex_);
        std::vector<OutgoingEvent> out;
        std::size_t bytes = 0;
        for (const auto& e : queue_[destination]) {
            if (out.size() >= max_events || (!out.empty() && bytes + e.event.size() > max_bytes)) break;
            out.push_back(e);
            bytes += e.event.size();
        }
        return out;
    }
    void remove_delivered(const std::vector<std::string>& ids) override {
        ++calls;
        std::lock_guard lock(mutex_);
        delivered_ += remove(ids);
    }
    void dead_letter(const std::vector<std::string>& ids, const std::string& reason) override {
        ++calls;
        std::lock_guard lock(mutex_);
        remove(ids);
        for (const auto& id : ids) dead_[id] = reason;
    }
    std::vector<tk::agent::ErasureRequest> pending_erasures() override {
        ++calls;
        std::lock_guard lock(mutex_);
        return erasures_;
    }
    void erasure_done(std::int64_t request_id) override {
        ++calls;
        std::lock_guard lock(mutex_);
        for (auto it = erasures_.begin(); it != erasures_.end(); ++it) {
            if (it->request_id == request_id) {
                erasures_.erase(it);
                break;
            }
        }
    }

private:
    std::size_t remove(const std::vector<std::string>& ids) {
        std::size_t removed = 0;
        for (auto& [d, events] : queue_) {
            for (const auto& id : ids) {
                for (auto it = events.begin(); it != events.end(); ++it) {
                    if (it->id == id) {
                        events.erase(it);
                        ++removed;
                        break;
                    }
                }
            }
        }
        return removed;
    }

    mutable std::mutex mutex_;
    std::map<Destination, std::vector<OutgoingEvent>> queue_;
    std::map<std::string, std::string> dead_;
    std::vector<tk::agent::ErasureRequest> erasures_;
    std::int64_t last_request_ = 0;
    std::size_t delivered_ = 0;
};

}  // namespace tk::test
