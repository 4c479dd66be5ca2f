#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "support/process.hpp"
#include "tk/common/unix_socket.hpp"

namespace us = tk::unix_socket;

namespace {
/// A listening Unix socket at `path`, closed on destruction.
struct Listener {
    explicit Listener(const std::filesystem::path& path) {
        fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd, 4) == 0);
    }
    ~Listener() { ::close(fd); }
    int fd = -1;
};
}  // namespace

TEST_CASE("connect_stream: no listener, a path too long, and a live listener") {
    tk::test::TempDir dir;
    const auto path = dir.path() / "agent.sock";

    errno = 0;
    CHECK(us::connect_stream(path) == -1);
    CHECK(errno == ENOENT);

    errno = 0;
    CHECK(us::connect_stream(dir.path() / std::string(200, 'x')) == -1);
    CHECK(errno == ENAMETOOLONG);

    Listener listener(path);
    const int fd = us::connect_stream(path, /*nonblocking=*/true);
    REQUIRE(fd >= 0);
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    ::close(fd);

    const int blocking = us::connect_stream(path);
    REQUIRE(blocking >= 0);
    CHECK((::fcntl(blocking, F_GETFL) & O_NONBLOCK) == 0);
    ::close(blocking);
}

TEST_CASE("send_all: writes everything, and a closed peer is an error, not SIGPIPE") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const std::string bytes(100'000, 'e');  // more than one send's worth on a small buffer

    std::string received;
    // A blocking send_all of 100 kB needs a reader at the same time.
    std::thread reader([&] {
        char chunk[8192];
        for (;;) {
            const ssize_t n = ::recv(pair[1], chunk, sizeof chunk, 0);
            if (n <= 0) break;
            received.append(chunk, static_cast<std::size_t>(n));
        }
    });
    CHECK(us::send_all(pair[0], bytes));
    ::shutdown(pair[0], SHUT_WR);
    reader.join();
    CHECK(received == bytes);

    ::close(pair[1]);
    errno = 0;
    CHECK_FALSE(us::send_all(pair[0], "after the peer left"));  // the process would die here on SIGPIPE
    CHECK(errno == EPIPE);
    ::close(pair[0]);
}

TEST_CASE("peer_credentials: the peer of a socket this process made is this user and this process") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const auto peer = us::peer_credentials(pair[0]);
    REQUIRE(peer);
    CHECK(peer->uid == ::geteuid());
#if defined(SO_PEERCRED)
    CHECK(peer->pid == ::getpid());
#endif
    ::close(pair[0]);
    ::close(pair[1]);

    const int not_a_socket = ::open("/dev/null", O_RDONLY);
    CHECK_FALSE(us::peer_credentials(not_a_socket));
    ::close(not_a_socket);
}
