// POSIX Unix stream sockets (unix_socket.hpp): connect with close-on-exec and no SIGPIPE, peer
// credentials, and connect_trusted(), which refuses an agent that is not the person's own.
#include "tk/common/unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tk/common/private_files.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::unix_socket {

int connect_stream(const std::filesystem::path& path, bool nonblocking) noexcept {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string& native = path.native();
    if (native.empty() || native.size() >= sizeof address.sun_path) {
        errno = native.empty() ? ENOENT : ENAMETOOLONG;
        return -1;
    }
    std::memcpy(address.sun_path, native.c_str(), native.size() + 1);

    // SOCK_CLOEXEC is not on macOS; the fcntl leaves a window only a fork-and-exec in another
    // thread could hit, and our hosts do not fork between these two calls.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    if (!fd) return -1;
    ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
    if (nonblocking) ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
#ifdef SO_NOSIGPIPE
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#endif
    // A Unix socket connects at once or fails at once (EAGAIN: the listener's backlog is full).
    // On failure the descriptor is closed with errno kept (UniqueFd).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) return -1;
    return fd.release();
}

int send_flags() noexcept {
#ifdef MSG_NOSIGNAL
    return MSG_NOSIGNAL;
#else
    return 0;
#endif
}

bool send_all(int fd, std::string_view bytes) noexcept {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, send_flags());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

std::optional<PeerCredentials> peer_credentials(int fd) noexcept {
#if defined(SO_PEERCRED)
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return std::nullopt;
    return PeerCredentials{peer.uid, peer.pid};
#else
    uid_t uid = 0;
    gid_t gid = 0;
    if (::getpeereid(fd, &uid, &gid) != 0) return std::nullopt;
    return PeerCredentials{uid, -1};
#endif
}

Result<void> judge_peer(const std::filesystem::path& path, uid_t peer_uid, uid_t me) {
    if (peer_uid == me) return {};
    return Error{"the socket at " + path.string() + " belongs to user " + std::to_string(peer_uid) +
                 ", not you (user " + std::to_string(me) + "); telemetry-kit did not send anything to it"};
}

Result<UniqueFd> connect_trusted(const std::filesystem::path& path, bool nonblocking) noexcept {
    try {
        if (const auto trusted = check_private_dir(path.parent_path()); !trusted) {
            return Error{trusted.error() + "; telemetry-kit did not connect to the socket " + path.string() + " in it"};
        }
        UniqueFd fd(connect_stream(path, nonblocking));
        if (!fd) {
            const int error = errno;
            return Error{"cannot connect to " + path.string() + ": " + std::strerror(error), error};
        }
        const auto peer = peer_credentials(fd.get());
        if (!peer)
            return Error{"cannot tell who listens on " + path.string() + "; telemetry-kit did not send anything to it"};
        if (auto mine = judge_peer(path, peer->uid, ::geteuid()); !mine) return mine.failure();
        return fd;
    } catch (...) {
        return Error{{}, ENOMEM};  // an empty message allocates nothing
    }
}

}  // namespace tk::unix_socket
