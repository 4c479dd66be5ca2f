#pragma once
/// telemetry-kit's C++ client: record which commands and features of a tool are used.
///
///     telemetry_kit::Client telemetry({"my-cli", "1.2.0", "https://telemetry.example.com", "ingest-key"});
///     // or: telemetry_kit::Client telemetry(telemetry_kit::Config{"my-cli", "1.2.0"}.collector(url, key));
///     telemetry.track_command("build", {{"target", "release"}}).success(true).duration(elapsed);
///     telemetry.track_feature("cache.remote");
///
/// Every call is fire-and-forget and never throws: events go to a bounded in-memory queue that a
/// background thread writes to the per-user agent (or, with no agent, to the spool file the agent
/// imports when it starts). `flush()` is the only call that waits, and the destructor waits at most
/// `kShutdownDeadline`. See docs/client.md.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "telemetry_kit/export.hpp"

namespace telemetry_kit {

/// How the tool asks for consent (the agent applies it).
enum class ConsentMode {
    opt_in,   ///< nothing is kept until the person grants (the default)
    opt_out,  ///< kept unless the person denies
};

/// Who the tool is and where its events go: `{"my-cli", "1.2.0", endpoint, key}`.
struct Config {
    Config() = default;
    Config(std::string tool_name, std::string tool_version, std::string collector_url = {}, std::string key = {})
        : tool(std::move(tool_name)),
          version(std::move(tool_version)),
          endpoint(std::move(collector_url)),
          ingest_key(std::move(key)) {}

    std::string tool;        ///< the tool's name, e.g. "my-cli"
    std::string version;     ///< the tool's version, e.g. "1.2.0"
    std::string endpoint;    ///< collector base URL; empty keeps events on this machine
    std::string ingest_key;  ///< the tool's ingest key at that collector
    ConsentMode consent_mode = ConsentMode::opt_in;
    bool allow_ci = false;    ///< keep (tagged) events from CI runs
    bool local_only = false;  ///< never forward, even with an endpoint
    /// The tool sends only under its manifest published on the collector (docs/privacy.md,
    /// "Manifests"): the agent holds its events until it has the collector's answer, then holds
    /// them to the manifest, or drops them if none is published. Never stored unchecked.
    bool manifest_required = false;

    /// Sets the collector and ingest key: `Config{"my-cli", "1.2.0"}.collector(url, key)`.
    Config& collector(std::string url, std::string key) & {
        endpoint = std::move(url);
        ingest_key = std::move(key);
        return *this;
    }
    Config&& collector(std::string url, std::string key) && {
        return std::move(collector(std::move(url), std::move(key)));
    }
};

/// An attribute value: a string, an integer, a floating-point number or a bool.
class Value {
public:
    using Variant = std::variant<std::string, std::int64_t, double, bool>;

    Value(const char* text) : value_(std::string(text != nullptr ? text : "")) {}
    Value(std::string_view text) : value_(std::string(text)) {}
    Value(const std::string& text) : value_(text) {}
    Value(std::string&& text) : value_(std::move(text)) {}
    Value(bool flag) : value_(flag) {}
    Value(double number) : value_(number) {}
    Value(float number) : value_(static_cast<double>(number)) {}
    template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
    Value(Int number) : value_(static_cast<std::int64_t>(number)) {}

    const Variant& get() const { return value_; }

private:
    Variant value_;
};

/// One key/value attribute of an event, e.g. `{"target", "release"}`.
struct Attribute {
    std::string key;
    Value value;
};

class Client;

namespace detail {
class ClientCore;
/// An event being built (internal).
struct EventDraft {
    int kind = 0;
    std::string name;
    std::vector<Attribute> attributes;
    std::optional<bool> success;
    std::optional<std::int64_t> duration_us;
    std::optional<std::int32_t> exit_code;
    std::int64_t timestamp_unix_ms = 0;
};
}  // namespace detail

/// An event returned by `Client::track_*`: add outcome and attributes, and it is recorded when
/// it goes out of scope (at the end of the statement for a temporary) or at `record()`.
class TELEMETRY_KIT_API EventBuilder {
public:
    EventBuilder(EventBuilder&& other) noexcept;
    EventBuilder& operator=(EventBuilder&&) = delete;
    EventBuilder(const EventBuilder&) = delete;
    EventBuilder& operator=(const EventBuilder&) = delete;
    /// Records the event, unless `record()` or `discard()` was called.
    ~EventBuilder();

    /// Whether the command succeeded.
    EventBuilder& success(bool succeeded) noexcept;
    /// How long the command took.
    template <class Rep, class Period>
    EventBuilder& duration(std::chrono::duration<Rep, Period> elapsed) noexcept {
        return duration_us(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    }
    EventBuilder& duration_us(std::int64_t microseconds) noexcept;
    /// The command's exit code.
    EventBuilder& exit_code(int code) noexcept;
    /// Adds (or replaces) an attribute.
    EventBuilder& attribute(std::string_view key, Value value) noexcept;

    /// Records the event now; later calls do nothing.
    void record() noexcept;
    /// Drops the event without recording it.
    void discard() noexcept;

private:
    friend class Client;
    EventBuilder(detail::ClientCore* core, int kind, std::string_view name,
                 std::initializer_list<Attribute> attributes) noexcept;

    detail::ClientCore* core_;  // null: nothing to record (disabled, or already recorded)
    detail::EventDraft draft_;
};

/// What happened to the events of one `Client` so far.
struct Stats {
    std::uint64_t tracked = 0;     ///< events recorded by the tool
    std::uint64_t delivered = 0;   ///< acknowledged by the agent (stored, or dropped by its policy)
    std::uint64_t spooled = 0;     ///< written to the spool file for the agent to import
    std::uint64_t dropped = 0;     ///< lost: queue full, too large, or spool unwritable/full
    std::uint64_t suppressed = 0;  ///< not sent because of DO_NOT_TRACK/<TOOL>_TELEMETRY_DISABLED/debug
    std::uint64_t reconnects = 0;  ///< connections to the agent after the first
};

/// What the client does with events, decided once from the environment at construction.
enum class Mode {
    sending,   ///< to the agent (or the spool)
    debug,     ///< TELEMETRY_KIT_DEBUG=1: each event is printed to stderr as JSON, nothing is sent
    disabled,  ///< DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED is set (or no tool name): nothing is sent
};

/// The telemetry client of one tool. Thread-safe; one per process is typical.
class TELEMETRY_KIT_API Client {
public:
    /// The longest the destructor waits to hand queued events to the agent before spooling them.
    static constexpr std::chrono::milliseconds kShutdownDeadline{100};

    /// Starts the client. Never throws; on any failure the client is disabled.
    explicit Client(Config config) noexcept;
    /// Hands over what is queued, waiting at most `kShutdownDeadline`; what the agent did not
    /// take by then goes to the spool file.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// A command (or subcommand) ran.
    EventBuilder track_command(std::string_view name, std::initializer_list<Attribute> attributes = {}) noexcept;
    /// A feature was used.
    EventBuilder track_feature(std::string_view name, std::initializer_list<Attribute> attributes = {}) noexcept;
    /// Anything else the tool defines.
    EventBuilder track(std::string_view name, std::initializer_list<Attribute> attributes = {}) noexcept;

    /// Waits until every event recorded before this call is durable: acknowledged by the agent
    /// (stored or dropped by its policy) or written to the spool file. True if so within `deadline`.
    bool flush(std::chrono::milliseconds deadline) noexcept;

    Stats stats() const noexcept;
    Mode mode() const noexcept;
    const Config& config() const noexcept;

private:
    std::shared_ptr<detail::ClientCore> core_;
};

/// Records one command run: its duration, and its success — failure if `fail()` or a non-zero
/// `exit_code()` was set, or if an exception leaves the scope.
///
///     telemetry_kit::CommandScope scope(telemetry, "build", {{"target", "release"}});
class TELEMETRY_KIT_API CommandScope {
public:
    CommandScope(Client& client, std::string_view command, std::initializer_list<Attribute> attributes = {}) noexcept;
    /// Records the event.
    ~CommandScope();
    CommandScope(const CommandScope&) = delete;
    CommandScope& operator=(const CommandScope&) = delete;

    /// Marks the command failed.
    void fail() noexcept { success_ = false; }
    /// Sets success explicitly (overrides exit-code and exception inference).
    void success(bool succeeded) noexcept { success_ = succeeded; }
    /// The command's exit code; non-zero means failure unless `success()` says otherwise.
    void exit_code(int code) noexcept { exit_code_ = code; }
    /// Adds an attribute.
    void attribute(std::string_view key, Value value) noexcept { event_.attribute(key, std::move(value)); }

private:
    EventBuilder event_;
    std::chrono::steady_clock::time_point start_;
    int uncaught_at_start_;
    std::optional<bool> success_;
    std::optional<int> exit_code_;
};

}  // namespace telemetry_kit
