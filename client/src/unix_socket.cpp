// The client's transport to the agent (unix_socket.hpp): non-blocking send/receive that never
// raise SIGPIPE, and one control round trip with a deadline (agent_request).
#include "unix_socket.hpp"

#include "tk/common/framing.hpp"
#include "tk/common/unique_fd.hpp"
#include "tk/common/unix_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace telemetry_kit::detail {
namespace {

// Largest AgentReply the client accepts (control replies it asks for are small).
constexpr std::size_t kMaxReplyBytes = 1u << 20;

}  // namespace

tk::Result<tk::UniqueFd> connect_agent(const std::filesystem::path& socket) noexcept {
    return tk::unix_socket::connect_trusted(socket, /*nonblocking=*/true);
}

ssize_t send_some(int fd, const char* data, std::size_t size) noexcept {
    for (;;) {
        const ssize_t n = ::send(fd, data, size, tk::unix_socket::send_flags());
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

ssize_t receive_some(int fd, char* data, std::size_t size) noexcept {
    for (;;) {
        const ssize_t n = ::recv(fd, data, size, 0);
        if (n > 0) return n;
        if (n == 0) return -1;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

namespace {

using clock = std::chrono::steady_clock;

/// Waits until `fd` is ready for `events`; false once `deadline` has passed.
bool wait_for(int fd, short events, clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) > 0;
}

/// Sends all of `bytes` by `deadline`; false if the connection broke or time ran out.
bool send_by(int fd, const std::string& bytes, clock::time_point deadline) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = send_some(fd, bytes.data() + sent, bytes.size() - sent);
        if (n < 0 || (n == 0 && !wait_for(fd, POLLOUT, deadline))) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

/// Reads one AgentReply frame by `deadline`.
tk::Result<wire::Reply> read_reply_by(int fd, clock::time_point deadline) {
    std::string in;
    char buffer[4096];
    for (;;) {
        if (in.size() >= tk::framing::kHeaderBytes) {
            const std::size_t length = tk::framing::read_header(in.data());
            if (length > kMaxReplyBytes) return tk::Error{"the agent's reply is too large"};
            if (in.size() >= tk::framing::kHeaderBytes + length) {
                wire::Reply reply;
                if (!wire::decode_reply(std::string_view(in).substr(tk::framing::kHeaderBytes, length), reply)) {
                    return tk::Error{"the agent's reply is malformed"};
                }
                return reply;
            }
        }
        const ssize_t n = receive_some(fd, buffer, sizeof buffer);
        if (n < 0 || (n == 0 && !wait_for(fd, POLLIN, deadline))) return tk::Error{"the agent did not answer in time"};
        in.append(buffer, static_cast<std::size_t>(n));
    }
}

}  // namespace

tk::Result<wire::Reply> agent_request(const std::filesystem::path& socket, const std::string& frame,
                                      std::chrono::milliseconds timeout) noexcept {
    const auto deadline = clock::now() + timeout;
    const auto fd = connect_agent(socket);
    if (!fd) {
        if (fd.failure().code == 0) return fd.failure();  // refused: the message says why
        return tk::Error{"the agent is not running (no socket at " + socket.string() + ")"};
    }
    if (!send_by(fd->get(), frame, deadline)) return tk::Error{"the agent did not answer in time"};
    return read_reply_by(fd->get(), deadline);
}

}  // namespace telemetry_kit::detail
