#pragma once
// tk's connection to the agent: a blocking Unix socket with a deadline, ClientFrame out, AgentReply in.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "telemetry_kit/v1/agent.pb.h"
#include "tk/common/result.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::cli {

class AgentConnection {
public:
    /// Connects to `socket`. Returns nullopt if no agent accepts there (not running), or if the
    /// socket or its directory belongs to another user (an impostor: nothing is sent to it, and
    /// `refused` says why).
    static std::optional<AgentConnection> connect(const std::filesystem::path& socket, std::string& refused);

    bool send(const telemetry_kit::v1::ClientFrame& frame);
    /// The next reply; else why not (a timeout, a closed connection or garbage).
    Result<telemetry_kit::v1::AgentReply> receive(std::chrono::milliseconds deadline);

private:
    explicit AgentConnection(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
    std::string buffer_;
};

}  // namespace tk::cli
