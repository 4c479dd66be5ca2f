#include "tk/agent/activation.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef __APPLE__
#include <launch.h>
#endif

namespace tk::agent {

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
            ::close(fds[i]);  // a Unix socket has one listener; anything more is not ours to use
        }
    }
    std::free(fds);
    if (listener >= 0) ::fcntl(listener, F_SETFD, FD_CLOEXEC);
    return listener;
}

#else

int activated_listener() {
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    if (pid == nullptr || fds == nullptr) return -1;
    // LISTEN_PID guards against inheriting the variables from a parent that was activated.
    if (std::strtol(pid, nullptr, 10) != ::getpid() || std::strtol(fds, nullptr, 10) < 1) return -1;
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START
    ::fcntl(kFirstFd, F_SETFD, FD_CLOEXEC);
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

    const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0) return false;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
#ifdef MSG_NOSIGNAL
    constexpr int kFlags = MSG_NOSIGNAL;
#else
    constexpr int kFlags = 0;
#endif
    const ssize_t sent =
        ::sendto(fd, message.data(), message.size(), kFlags, reinterpret_cast<const sockaddr*>(&address), length);
    ::close(fd);
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
