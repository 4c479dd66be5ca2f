#include "unix_socket.hpp"

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

int connect_agent(const std::filesystem::path& socket, std::string& refused) noexcept {
    return tk::unix_socket::connect_trusted(socket, /*nonblocking=*/true, refused);
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

bool agent_request(const std::filesystem::path& socket, const std::string& frame, wire::Reply& reply,
                   std::chrono::milliseconds timeout, std::string& error) noexcept {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    std::string refused;
    const int fd = connect_agent(socket, refused);
    if (fd < 0) {
        error = refused.empty() ? "the agent is not running (no socket at " + socket.string() + ")" : refused;
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
