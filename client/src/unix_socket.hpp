#pragma once
/// The transport seam: a Unix stream socket to the agent. (Windows named pipes would go here.)

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

#include "tk/common/result.hpp"
#include "tk/common/unique_fd.hpp"
#include "wire.hpp"

namespace telemetry_kit::detail {

/// Connects to the agent's socket without blocking: a non-blocking descriptor, or why not. Only
/// our own agent is connected to (tk::unix_socket::connect_trusted): for an impostor (a socket or
/// socket directory of another user) the error's code is 0, its message says why, and nothing was
/// sent; else the code is connect's errno (no agent there).
tk::Result<tk::UniqueFd> connect_agent(const std::filesystem::path& socket) noexcept;

/// send() that never raises SIGPIPE and never blocks (the fd is non-blocking).
/// Returns bytes sent, 0 if the socket buffer is full, -1 if the connection is gone.
ssize_t send_some(int fd, const char* data, std::size_t size) noexcept;

/// Reads what is available. Returns bytes read, 0 if nothing is available, -1 on EOF or error.
ssize_t receive_some(int fd, char* data, std::size_t size) noexcept;

/// One control round trip on a fresh connection: sends `frame`, waits for one AgentReply; else
/// says why not (the agent cannot be reached, or does not answer well within `timeout`).
tk::Result<wire::Reply> agent_request(const std::filesystem::path& socket, const std::string& frame,
                                      std::chrono::milliseconds timeout) noexcept;

}  // namespace telemetry_kit::detail
