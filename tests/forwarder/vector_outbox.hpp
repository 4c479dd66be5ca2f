#pragma once
/// An in-memory Outbox for the forwarder's own tests (the end-to-end tests use the agent's real
/// store). Thread-safe like the real one; counts calls so a test can see the forwarder idle, and
/// fails on demand (the Nth call, or every call of one method) as a full disk or a locked database
/// would make the store fail: nothing changes and the call says why.

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
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

    /// The call numbered `n` (1 = the next call, of any method) fails; 0 = none.
    void fail_call(int n) {
        std::lock_guard lock(mutex_);
        fail_at_ = n == 0 ? 0 : calls + n;
    }
    /// Every call of `method` (e.g. "dead_letter") fails until fail_method(""), and `failures` counts them.
    void fail_method(const std::string& method) {
        std::lock_guard lock(mutex_);
        failing_method_ = method;
    }
    std::atomic<int> failures{0};

    tk::Result<std::vector<Destination>> pending_destinations() override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("pending_destinations")) return *error;
        std::vector<Destination> out;
        for (const auto& [d, events] : queue_) {
            if (!events.empty()) out.push_back(d);
        }
        return out;
    }
    tk::Result<std::vector<OutgoingEvent>> next_batch(const Destination& destination, std::size_t max_events,
                                                      std::size_t max_bytes) override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("next_batch")) return *error;
        std::vector<OutgoingEvent> out;
        std::size_t bytes = 0;
        for (const auto& e : queue_[destination]) {
            if (out.size() >= max_events || (!out.empty() && bytes + e.event.size() > max_bytes)) break;
            out.push_back(e);
            bytes += e.event.size();
        }
        return out;
    }
    tk::Result<void> remove_delivered(const std::vector<std::string>& ids) override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("remove_delivered")) return *error;
        delivered_ += remove(ids);
        return {};
    }
    tk::Result<void> dead_letter(const std::vector<std::string>& ids, const std::string& reason) override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("dead_letter")) return *error;
        remove(ids);
        for (const auto& id : ids) dead_[id] = reason;
        return {};
    }
    tk::Result<std::vector<tk::agent::ErasureRequest>> pending_erasures() override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("pending_erasures")) return *error;
        return erasures_;
    }
    tk::Result<void> erasure_done(std::int64_t request_id) override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("erasure_done")) return *error;
        for (auto it = erasures_.begin(); it != erasures_.end(); ++it) {
            if (it->request_id == request_id) {
                erasures_.erase(it);
                break;
            }
        }
        return {};
    }
    tk::Result<void> erasure_refused(std::int64_t request_id, const std::string& reason) override {
        std::lock_guard lock(mutex_);
        if (auto error = fault("erasure_refused")) return *error;
        for (auto it = erasures_.begin(); it != erasures_.end(); ++it) {
            if (it->request_id == request_id) {
                refused_[it->anonymous_id] = reason;
                erasures_.erase(it);
                break;
            }
        }
        return {};
    }
    // Pauses are not counted in `calls` and never fail on demand: the call-numbered failures
    // of the older tests keep their numbering.
    tk::Result<void> save_pause(const tk::agent::Pause& pause) override {
        std::lock_guard lock(mutex_);
        pauses_[pause.destination] = pause;
        return {};
    }
    tk::Result<void> clear_pause(const Destination& destination) override {
        std::lock_guard lock(mutex_);
        pauses_.erase(destination);
        return {};
    }
    tk::Result<std::vector<tk::agent::Pause>> pauses() override {
        std::lock_guard lock(mutex_);
        std::vector<tk::agent::Pause> out;
        for (const auto& [d, pause] : pauses_) out.push_back(pause);
        return out;
    }

    /// anonymous id -> reason
    std::map<std::string, std::string> refused_erasures() const {
        std::lock_guard lock(mutex_);
        return refused_;
    }

private:
    /// Counts the call; the injected failure, if this call is to fail (under mutex_).
    std::optional<tk::Error> fault(const char* method) {
        const int call = ++calls;
        if (call != fail_at_ && failing_method_ != method) return std::nullopt;
        ++failures;
        return tk::Error{std::string("local queue: ") + method + ": disk I/O error (injected)"};
    }

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
    std::map<std::string, std::string> refused_;
    std::vector<tk::agent::ErasureRequest> erasures_;
    std::map<Destination, tk::agent::Pause> pauses_;
    std::int64_t last_request_ = 0;
    std::size_t delivered_ = 0;
    int fail_at_ = 0;
    std::string failing_method_;
};

}  // namespace tk::test
