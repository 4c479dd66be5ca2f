#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "support/process.hpp"
#include "tk/common/private_files.hpp"
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

// The trust decisions as pure functions (issue 16): what stat() or the peer check said in, a
// tk::Result out whose message names the place and the reason.
TEST_CASE("judge_peer and judge_private_dir: only the person's own socket and directory pass") {
    const std::filesystem::path sock = "/run/user/1000/telemetry-kit/agent.sock";
    CHECK(us::judge_peer(sock, 1000, 1000).ok());
    const auto other = us::judge_peer(sock, 1001, 1000);
    REQUIRE_FALSE(other.ok());
    CHECK(other.error() == "the socket at " + sock.string() +
                               " belongs to user 1001, not you (user 1000); telemetry-kit did not send anything to it");

    const std::filesystem::path dir = "/run/user/1000/telemetry-kit";
    CHECK(tk::judge_private_dir(dir, true, 1000, S_IFDIR | 0700, 1000).ok());
    CHECK(tk::judge_private_dir(dir, true, 1000, S_IFDIR | 0755, 1000).ok());  // others may read, not write
    CHECK(tk::judge_private_dir(dir, false, 1000, S_IFREG | 0700, 1000).error() ==
          dir.string() + " is not a directory");
    CHECK(tk::judge_private_dir(dir, true, 0, S_IFDIR | 0700, 1000).error() ==
          "the directory " + dir.string() + " belongs to user 0, not you (user 1000)");
    CHECK(tk::judge_private_dir(dir, true, 1000, S_IFDIR | 0770, 1000).error() ==
          "the directory " + dir.string() + " can be written by other users (mode 0770)");
    CHECK_FALSE(tk::judge_private_dir(dir, true, 1000, S_IFDIR | 01777, 1000).ok());  // like /tmp
}

TEST_CASE("connect_trusted: no agent keeps connect's errno, an untrusted directory is a refusal (code 0)") {
    tk::test::TempDir dir;
    const auto path = dir.path() / "agent.sock";
    const auto absent = us::connect_trusted(path, /*nonblocking=*/true);
    REQUIRE_FALSE(absent.ok());
    CHECK(absent.failure().code == ENOENT);

    {
        Listener listener(path);
        const auto mine = us::connect_trusted(path, /*nonblocking=*/true);
        REQUIRE(mine.ok());
        CHECK(mine->get() >= 0);
    }

    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);  // anyone could plant a socket here
    const auto refused = us::connect_trusted(path, /*nonblocking=*/true);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.failure().code == 0);
    CHECK(refused.error().find("can be written by other users (mode 0777)") != std::string::npos);
    REQUIRE(::chmod(dir.path().c_str(), 0700) == 0);
}

TEST_CASE("open_private_file: a missing file keeps ENOENT, a FIFO or symlink is refused (code 0)") {
    tk::test::TempDir dir;
    const auto file = dir.path() / "spool";
    const auto missing = tk::open_private_file(file, O_RDONLY, 0);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.failure().code == ENOENT);

    const auto made = tk::open_private_file(file, O_WRONLY | O_CREAT, 0600);
    REQUIRE(made.ok());
    CHECK(::write(made->get(), "x", 1) == 1);

    const auto fifo = dir.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto planted = tk::open_private_file(fifo, O_WRONLY, 0);  // no reader: must not block
    REQUIRE_FALSE(planted.ok());
    CHECK(planted.failure().code == 0);
    CHECK(planted.error() == fifo.string() + " is a FIFO (named pipe), not telemetry-kit's file");

    const auto link = dir.path() / "link";
    REQUIRE(::symlink(file.c_str(), link.c_str()) == 0);
    const auto followed = tk::open_private_file(link, O_RDONLY, 0);
    REQUIRE_FALSE(followed.ok());
    CHECK(followed.failure().code == 0);
    CHECK(followed.error() == link.string() + " is a symbolic link, not telemetry-kit's file");
}
