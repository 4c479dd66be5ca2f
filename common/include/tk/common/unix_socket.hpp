#pragma once
// Plain POSIX Unix-domain stream sockets, the same on Linux and macOS: close-on-exec, no SIGPIPE,
// and the peer's credentials. For code that talks to the agent without Boost.Asio (the client
// library, tk, tests) and for the agent's own peer check.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tk/common/result.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::unix_socket {

/// Connects a stream socket to `path`. The descriptor is close-on-exec, never raises SIGPIPE on
/// write (with send_flags()), and is non-blocking if asked. Returns -1 with errno set on failure
/// (ENAMETOOLONG if the path does not fit in sockaddr_un).
int connect_stream(const std::filesystem::path& path, bool nonblocking = false) noexcept;

/// Flags for send(2) so a closed peer gives EPIPE instead of SIGPIPE (MSG_NOSIGNAL where it
/// exists; elsewhere connect_stream set SO_NOSIGPIPE on the socket).
int send_flags() noexcept;

/// Writes all of `bytes` to a blocking socket, retrying on EINTR. False on error (errno set).
bool send_all(int fd, std::string_view bytes) noexcept;

/// Who is on the other end of a connected Unix socket.
struct PeerCredentials {
    uid_t uid = 0;
    pid_t pid = -1;  ///< -1 where the platform does not tell (macOS's getpeereid)
};

/// The peer's credentials (SO_PEERCRED on Linux, getpeereid elsewhere), or nullopt (errno set).
std::optional<PeerCredentials> peer_credentials(int fd) noexcept;

/// Connects to the agent's socket at `path` only if the agent is ours: before a byte is sent, the
/// socket's directory must be owned by us and writable by no one else, and the peer must run as our
/// uid. Returns the descriptor (as connect_stream), or an error whose `code` tells the two failures
/// apart: 0 if the socket was refused (an impostor: treat it as "agent absent" and spool; the
/// message says why in words a person understands), else connect's errno (nothing accepts there).
Result<UniqueFd> connect_trusted(const std::filesystem::path& path, bool nonblocking) noexcept;

/// The decision of the peer check: fine if `peer_uid` is `me`, else why the socket is refused.
Result<void> judge_peer(const std::filesystem::path& path, uid_t peer_uid, uid_t me);

}  // namespace tk::unix_socket
