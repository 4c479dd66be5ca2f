#pragma once
// tk's connection to the agent: a blocking Unix socket with a deadline, ClientFrame out, AgentReply in.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "telemetry_kit/v1/agent.pb.h"

namespace tk::cli {

class AgentConnection {
public:
    /// Connects to `socket`. Returns nullopt if no agent accepts there (not running), or if the
    /// socket or its directory belongs to another user (an impostor: nothing is sent to it, and
    /// `refused` says why).
    static std::optional<AgentConnection> connect(const std::filesystem::path& socket, std::string& refused);
    AgentConnection(AgentConnection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    AgentConnection& operator=(AgentConnection&&) = delete;
    ~AgentConnection();

    bool send(const telemetry_kit::v1::ClientFrame& frame);
    /// The next reply, or nullopt (with `error` set) on timeout, a closed connection or garbage.
    std::optional<telemetry_kit::v1::AgentReply> receive(std::chrono::milliseconds deadline, std::string& error);

private:
    explicit AgentConnection(int fd) : fd_(fd) {}
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace tk::cli
