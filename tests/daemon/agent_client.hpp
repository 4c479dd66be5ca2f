#pragma once
/// A raw-frame client of the agent for tests: blocking Unix socket, ClientFrame out, AgentReply in.
/// Deliberately independent of the client library, so the agent's tests pin the wire protocol.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "telemetry_kit/v1/agent.pb.h"

namespace tk::test {

class AgentClient {
public:
    /// Connects; throws std::runtime_error if it cannot.
    explicit AgentClient(const std::filesystem::path& socket);
    ~AgentClient();
    AgentClient(const AgentClient&) = delete;
    AgentClient& operator=(const AgentClient&) = delete;

    /// Sends raw bytes; false if the agent closed the connection.
    bool send_raw(const std::string& bytes);
    bool send(const telemetry_kit::v1::ClientFrame& frame);
    bool hello(const telemetry_kit::v1::ToolIdentity& tool, const telemetry_kit::v1::OptOutSignals& signals = {});
    bool event(const telemetry_kit::v1::Event& event);
    /// Sends Flush and waits for the ack (nullopt on timeout or a closed connection).
    std::optional<telemetry_kit::v1::FlushAck> flush(std::chrono::milliseconds deadline = std::chrono::seconds(10));
    /// Sends a control request and waits for the reply.
    std::optional<telemetry_kit::v1::ControlResponse> control(
        telemetry_kit::v1::ControlRequest request, std::chrono::milliseconds deadline = std::chrono::seconds(10));
    /// The next reply, waiting up to `deadline`.
    std::optional<telemetry_kit::v1::AgentReply> receive(std::chrono::milliseconds deadline);
    /// True once the agent has closed the connection (reads EOF/error), within `deadline`.
    bool closed_by_agent(std::chrono::milliseconds deadline = std::chrono::seconds(5));

private:
    int fd_ = -1;
    std::string buffer_;
    std::uint64_t next_request_ = 1;
};

/// A tool identity with sensible test defaults.
telemetry_kit::v1::ToolIdentity tool_identity(const std::string& name, bool opt_out = true);
/// An event with a fresh UUIDv7 (or one made at `unix_ms`).
telemetry_kit::v1::Event make_event(const std::string& name, std::optional<std::uint64_t> unix_ms = std::nullopt);

/// Control requests as `tk` sends them (caller = CALLER_PERSON); set CALLER_TOOL to play a tool.
telemetry_kit::v1::ControlRequest status_request();
telemetry_kit::v1::ControlRequest consent_request(telemetry_kit::v1::ConsentRequest::Action action,
                                                  const std::string& tool, bool all = false);
telemetry_kit::v1::ControlRequest events_request(const std::string& tool = "", std::uint32_t limit = 0);
telemetry_kit::v1::ControlRequest forget_request(const std::string& tool);

/// The status entry of `tool`, or nullptr.
const telemetry_kit::v1::ToolStatus* find_tool(const telemetry_kit::v1::StatusResponse& status,
                                               const std::string& tool);
/// Dropped count of `tool` for `reason` (0 if none).
std::uint64_t dropped(const telemetry_kit::v1::StatusResponse& status, const std::string& tool,
                      const std::string& reason);

}  // namespace tk::test

#include "support/process.hpp"

namespace tk::test {

/// Agent settings for tests that forward: send almost at once, retry quickly.
inline constexpr const char* kQuickForwarderConfig =
    "[forwarder]\n"
    "coalesce_ms = 10\n"
    "initial_backoff_ms = 50\n"
    "max_backoff_s = 1\n"
    "request_timeout_s = 5\n";

/// A real tk-agent on a socket and state dir of its own, in a fresh temp dir.
class RunningAgent {
public:
    /// `config`: agent.conf contents (INI); empty = defaults.
    /// `max_open_files`: the agent's RLIMIT_NOFILE (soft and hard), for tests that run it out of
    /// descriptors.
    explicit RunningAgent(const std::string& config = "", std::vector<std::string> extra_args = {},
                          std::optional<unsigned long> max_open_files = std::nullopt);
    ~RunningAgent();

    /// Starts the agent (again) and waits until its socket accepts connections.
    void start();
    /// SIGTERM and wait; returns the exit code.
    int stop();
    /// SIGKILL.
    void kill();
    bool running() { return process_ && process_->running(); }

    const fs::path& root() const { return dir_.path(); }
    fs::path socket() const { return dir_.path() / "run" / "agent.sock"; }
    fs::path home() const { return dir_.path() / "home"; }
    fs::path config_file() const { return dir_.path() / "agent.conf"; }
    std::string log() const { return read_file(dir_.path() / "agent.log"); }
    std::map<std::string, std::string> env() const;
    /// Runs `tk <args...>` against this agent (its socket and home) to completion.
    RunResult tk(std::vector<std::string> args) const;
    /// Rows of the agent's dead-letter table, read beside the running agent (-1 if unreadable).
    long long dead_letter_rows() const;
    ChildProcess& process() { return *process_; }

    /// Control request on a fresh connection; REQUIREs a reply without error.
    telemetry_kit::v1::ControlResponse control(telemetry_kit::v1::ControlRequest request);
    telemetry_kit::v1::StatusResponse status() { return control(status_request()).status(); }

private:
    TempDir dir_;
    std::vector<std::string> extra_args_;
    std::optional<unsigned long> max_open_files_;
    std::optional<ChildProcess> process_;
};

}  // namespace tk::test
