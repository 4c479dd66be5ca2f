// Running under a service manager (activation.hpp): adopting a socket-activated listener and
// sd_notify (READY, STOPPING, STATUS).
#include "tk/agent/activation.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tk/common/unique_fd.hpp"

#ifdef __APPLE__
#include <launch.h>
#endif

namespace tk::agent {

namespace {

/// Throws unless `fd` is a listening AF_UNIX stream socket; then makes it close-on-exec.
/// `what` names it in the message ("fd 3 (LISTEN_FDS=1)").
void check_listener(int fd, const std::string& what) {
    auto fail = [&what](const std::string& why) {
        throw std::runtime_error("socket activation: " + what + " " + why +
                                 "; the agent needs a listening Unix stream socket (ListenStream=<path>)");
    };
    int type = 0;
    socklen_t length = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0) {
        if (errno == ENOTSOCK) fail("is not a socket");
        if (errno == EBADF) fail("is not open");
        fail(std::string("cannot be inspected (getsockopt SO_TYPE: ") + std::strerror(errno) + ")");
    }
    if (type != SOCK_STREAM) fail("is not a stream socket (SO_TYPE " + std::to_string(type) + ")");
    sockaddr_storage address{};
    length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        fail(std::string("cannot be inspected (getsockname: ") + std::strerror(errno) + ")");
    }
    if (address.ss_family != AF_UNIX) {
        fail("is not a Unix socket (address family " + std::to_string(address.ss_family) + ")");
    }
#ifdef __linux__
    // SO_ACCEPTCONN is readable on Linux; elsewhere the first accept() would fail instead.
    int listening = 0;
    length = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0) {
        fail(std::string("cannot be inspected (getsockopt SO_ACCEPTCONN: ") + std::strerror(errno) + ")");
    }
    if (listening == 0) fail("is not listening (no listen() was called on it)");
#endif
    if (const int flags = ::fcntl(fd, F_GETFD); flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
        fail(std::string("cannot be made close-on-exec: ") + std::strerror(errno));
    }
}

}  // namespace

#ifdef __APPLE__

int activated_listener() {
    // launchd made the socket from the plist's Sockets.Listeners entry; ESRCH means we were not
    // started by launchd, ENOENT that the plist has no such socket: both mean "bind it yourself".
    int* fds = nullptr;
    std::size_t count = 0;
    if (::launch_activate_socket("Listeners", &fds, &count) != 0) return -1;
    int listener = -1;
    for (std::size_t i = 0; i < count; ++i) {
        if (listener < 0) {
            listener = fds[i];
        } else {
            const UniqueFd extra(fds[i]);  // closed here: a Unix socket has one listener; more are not ours
        }
    }
    std::free(fds);
    if (listener >= 0) check_listener(listener, "the launchd socket \"Listeners\"");
    return listener;
}

#else

int activated_listener() {
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    if (pid == nullptr || fds == nullptr) return -1;
    // LISTEN_PID guards against inheriting the variables from a parent that was activated.
    if (std::strtol(pid, nullptr, 10) != ::getpid()) return -1;
    const std::string count(fds);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(count.c_str(), &end, 10);
    if (errno != 0 || end == count.c_str() || *end != '\0' || n < 0) {
        throw std::runtime_error("socket activation: LISTEN_FDS='" + count + "' is not a number of descriptors");
    }
    if (n == 0) return -1;  // activated with no socket: bind it ourselves, as sd_listen_fds() callers do
    if (n != 1) {
        // Only fd 3 would be used; the others would stay open (and be inherited) for nothing. A
        // second socket is a mistake in the .socket unit, so say so instead of guessing.
        throw std::runtime_error("socket activation: LISTEN_FDS=" + count +
                                 ", but the agent takes exactly one socket (telemetry-kit-agent.socket must "
                                 "have a single ListenStream= for the agent's Unix socket)");
    }
    constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START
    check_listener(kFirstFd, "fd 3 (LISTEN_FDS=1)");
    return kFirstFd;
}

#endif

bool notify(std::string_view message) noexcept {
    const char* variable = std::getenv("NOTIFY_SOCKET");
    if (variable == nullptr) return false;
    const std::string_view path(variable);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    // A path, or '@' for Linux's abstract namespace (the name then starts with a NUL byte).
    if (path.size() < 2 || (path[0] != '/' && path[0] != '@') || path.size() >= sizeof address.sun_path) return false;
    std::memcpy(address.sun_path, path.data(), path.size());
    if (path[0] == '@') address.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());

    const UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM, 0));
    if (!fd) return false;
    ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
#ifdef MSG_NOSIGNAL
    constexpr int kFlags = MSG_NOSIGNAL;
#else
    constexpr int kFlags = 0;
#endif
    const ssize_t sent =
        ::sendto(fd.get(), message.data(), message.size(), kFlags, reinterpret_cast<const sockaddr*>(&address), length);
    return sent == static_cast<ssize_t>(message.size());
}

void notify_ready() noexcept { notify("READY=1"); }

void notify_stopping() noexcept { notify("STOPPING=1"); }

void notify_status(std::string_view status) noexcept {
    try {
        std::string message = "STATUS=";
        message.append(status);
        notify(message);
    } catch (...) {
        // out of memory: the status is not worth failing for
    }
}

}  // namespace tk::agent
