#include "unix_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace telemetry_kit::detail {
namespace {

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // macOS: SO_NOSIGPIPE is set on the socket instead
#endif

// Largest AgentReply the client accepts (control replies it asks for are small).
constexpr std::size_t kMaxReplyBytes = 1u << 20;

}  // namespace

int connect_agent(const std::filesystem::path& socket) noexcept {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string& path = socket.native();
    if (path.empty() || path.size() >= sizeof address.sun_path) return -1;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
#ifdef SO_NOSIGPIPE
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#endif
    // A Unix socket connects at once or fails at once (EAGAIN: the agent's backlog is full).
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

ssize_t send_some(int fd, const char* data, std::size_t size) noexcept {
    for (;;) {
        const ssize_t n = ::send(fd, data, size, kSendFlags);
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

bool agent_request(const std::filesystem::path& socket, const std::string& frame, wire::Reply& reply,
                   std::chrono::milliseconds timeout, std::string& error) noexcept {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    const int fd = connect_agent(socket);
    if (fd < 0) {
        error = "the agent is not running (no socket at " + socket.string() + ")";
        return false;
    }
    auto wait = [&](short events) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        return ::poll(&p, 1, static_cast<int>(left)) > 0;
    };
    bool ok = false;
    std::size_t sent = 0;
    std::string in;
    while (sent < frame.size()) {
        const ssize_t n = send_some(fd, frame.data() + sent, frame.size() - sent);
        if (n < 0 || (n == 0 && !wait(POLLOUT))) break;
        sent += static_cast<std::size_t>(n);
    }
    if (sent == frame.size()) {
        char buffer[4096];
        for (;;) {
            if (in.size() >= wire::kHeaderBytes) {
                const std::size_t length = wire::read_header(in.data());
                if (length > kMaxReplyBytes) break;
                if (in.size() >= wire::kHeaderBytes + length) {
                    ok = wire::decode_reply(std::string_view(in).substr(wire::kHeaderBytes, length), reply);
                    if (!ok) error = "the agent's reply is malformed";
                    break;
                }
            }
            const ssize_t n = receive_some(fd, buffer, sizeof buffer);
            if (n < 0 || (n == 0 && !wait(POLLIN))) break;
            in.append(buffer, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    if (!ok && error.empty()) error = "the agent did not answer in time";
    return ok;
}

}  // namespace telemetry_kit::detail
