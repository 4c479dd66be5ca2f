// The public C++ API (telemetry_kit/client.hpp): Client, Event and their builders, a thin layer that
// turns calls into EventDrafts for the core (core.cpp) and never throws into the host.
#include "telemetry_kit/client.hpp"

#include <exception>

#include "core.hpp"
#include "tk/common/clock.hpp"
#include "wire.hpp"

namespace telemetry_kit {
namespace {

const Config& empty_config() {
    static const Config config;
    return config;
}

}  // namespace

// ---- EventBuilder ----

EventBuilder::EventBuilder(detail::ClientCore* core, int kind, std::string_view name,
                           std::initializer_list<Attribute> attributes) noexcept
    : core_(core) {
    if (core_ == nullptr) return;
    try {
        draft_.kind = kind;
        draft_.name = std::string(name);
        draft_.attributes.assign(attributes.begin(), attributes.end());
        draft_.timestamp_unix_ms = tk::now_unix_ms();
    } catch (...) {
        core_ = nullptr;  // out of memory: this event is lost, the host goes on
    }
}

EventBuilder::EventBuilder(EventBuilder&& other) noexcept : core_(other.core_), draft_(std::move(other.draft_)) {
    other.core_ = nullptr;
}

EventBuilder::~EventBuilder() { record(); }

EventBuilder& EventBuilder::success(bool succeeded) noexcept {
    draft_.success = succeeded;
    return *this;
}

EventBuilder& EventBuilder::duration_us(std::int64_t microseconds) noexcept {
    draft_.duration_us = microseconds;
    return *this;
}

EventBuilder& EventBuilder::exit_code(int code) noexcept {
    draft_.exit_code = code;
    return *this;
}

EventBuilder& EventBuilder::attribute(std::string_view key, Value value) noexcept {
    if (core_ == nullptr) return *this;
    try {
        for (Attribute& existing : draft_.attributes) {
            if (existing.key == key) {
                existing.value = std::move(value);
                return *this;
            }
        }
        draft_.attributes.push_back(Attribute{std::string(key), std::move(value)});
    } catch (...) {
    }
    return *this;
}

void EventBuilder::record() noexcept {
    if (core_ == nullptr) return;
    detail::ClientCore* core = core_;
    core_ = nullptr;
    core->submit(draft_);
}

void EventBuilder::discard() noexcept { core_ = nullptr; }

// ---- Client ----

Client::Client(Config config) noexcept {
    try {
        core_ = std::make_shared<detail::ClientCore>(std::move(config));
        core_->start();
    } catch (...) {
        core_.reset();  // could not start (out of memory, no threads): disabled
    }
}

Client::~Client() {
    if (core_) core_->shutdown();
}

EventBuilder Client::track_command(std::string_view name, std::initializer_list<Attribute> attributes) noexcept {
    return EventBuilder(core_.get(), static_cast<int>(detail::wire::Kind::command), name, attributes);
}

EventBuilder Client::track_feature(std::string_view name, std::initializer_list<Attribute> attributes) noexcept {
    return EventBuilder(core_.get(), static_cast<int>(detail::wire::Kind::feature), name, attributes);
}

EventBuilder Client::track(std::string_view name, std::initializer_list<Attribute> attributes) noexcept {
    return EventBuilder(core_.get(), static_cast<int>(detail::wire::Kind::custom), name, attributes);
}

bool Client::flush(std::chrono::milliseconds deadline) noexcept { return core_ ? core_->flush(deadline) : true; }

Stats Client::stats() const noexcept { return core_ ? core_->stats() : Stats{}; }

Mode Client::mode() const noexcept { return core_ ? core_->mode() : Mode::disabled; }

const Config& Client::config() const noexcept { return core_ ? core_->config() : empty_config(); }

// ---- CommandScope ----

CommandScope::CommandScope(Client& client, std::string_view command,
                           std::initializer_list<Attribute> attributes) noexcept
    : event_(client.track_command(command, attributes)),
      start_(std::chrono::steady_clock::now()),
      uncaught_at_start_(std::uncaught_exceptions()) {}

CommandScope::~CommandScope() {
    bool succeeded = true;
    if (success_) {
        succeeded = *success_;
    } else if (std::uncaught_exceptions() > uncaught_at_start_) {
        succeeded = false;  // an exception is leaving the scope
    } else if (exit_code_) {
        succeeded = *exit_code_ == 0;
    }
    event_.success(succeeded).duration(std::chrono::steady_clock::now() - start_);
    if (exit_code_) event_.exit_code(*exit_code_);
    event_.record();
}

}  // namespace telemetry_kit
