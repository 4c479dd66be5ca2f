// The client and `tk` against hostile neighbours on the same machine (issue 17 item 1): a socket
// whose listener runs as another user, a socket directory or state dir another user owns or can
// write to, a FIFO, a symlink or another user's file planted as the spool. Nothing is sent or
// written to any of them, the tool never hangs, and `tk status` says why.
// Another uid needs root (CI runs tests as root): those cases skip with a message otherwise.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <grp.h>

#include "client_support.hpp"
#include "telemetry_kit/client.hpp"

using namespace tk::test;
using namespace std::chrono_literals;
using telemetry_kit::Client;

namespace {

telemetry_kit::Config demo_config() { return {"my-cli", "1.2.0", "https://telemetry.example.com", "key-1"}; }

std::optional<passwd> nobody() {
    if (::geteuid() != 0) return std::nullopt;
    const passwd* pw = ::getpwnam("nobody");
    if (pw == nullptr) return std::nullopt;
    return *pw;
}

#define REQUIRE_ROOT_AND_NOBODY(pw)                                                   \
    const auto pw = nobody();                                                         \
    if (!pw) {                                                                        \
        WARN("skipped: needs root and a 'nobody' user to act as another local user"); \
        return;                                                                       \
    }

/// A listening socket at `path` whose listener is another user: bound here, then listen()ed in a
/// child that has become `uid` (the peer credentials a client sees are the listener's at listen()).
/// This process keeps the descriptor, so it can read back whatever a client sent.
class ImpostorListener {
public:
    ImpostorListener(const fs::path& path, uid_t uid, gid_t gid) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) throw std::runtime_error("bind");
        ::chmod(path.c_str(), 0777);
        const pid_t child = ::fork();
        if (child == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
            ::_exit(::listen(fd_, 64) == 0 ? 0 : 1);
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("listen as another user");
        ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    }
    ~ImpostorListener() { ::close(fd_); }

    /// Accepts every connection made so far and returns every byte they carried.
    std::string received() {
        std::string bytes;
        for (int conn; (conn = ::accept(fd_, nullptr, nullptr)) >= 0;) {
            char buffer[4096];
            ssize_t n;
            while ((n = ::recv(conn, buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
                bytes.append(buffer, static_cast<std::size_t>(n));
            ::close(conn);
            ++connections_;
        }
        return bytes;
    }
    int connections() const { return connections_; }

private:
    int fd_ = -1;
    int connections_ = 0;
};

RunResult tk_status(const ClientHome& env) {
    ProcessOptions options;
    options.argv = {binary("tk").string(), "status"};
    options.env = hermetic_env(env.dir.path());
    options.env["TELEMETRY_KIT_HOME"] = env.home.string();
    options.env["TELEMETRY_KIT_SOCKET"] = env.socket.string();
    return run(options, 20s);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Runs `body` in a forked child and waits for it at most `deadline`: a hang fails the test
/// instead of hanging it. Returns the child's exit code, or -1 if it had to be killed.
int in_child(const std::function<int()>& body, std::chrono::milliseconds deadline = 20s) {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(body());
    int status = 0;
    const bool done = wait_until([&] { return ::waitpid(child, &status, WNOHANG) == child; }, deadline);
    if (!done) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("a listener of another user gets nothing: the events are spooled and tk status says why") {
    REQUIRE_ROOT_AND_NOBODY(pw);
    ClientHome env;
    ImpostorListener impostor(env.socket, pw->pw_uid, pw->pw_gid);
    {
        Client client(demo_config());
        client.track_command("build", {{"path", env.home.string()}});
        CHECK(client.flush(2s));
        CHECK(client.stats().spooled == 1);
        CHECK(client.stats().delivered == 0);
    }
    CHECK(impostor.received().empty());
    CHECK(impostor.connections() > 0);  // it was reached, and not a byte went to it
    CHECK(read_spool(env.spool()).size() == 1);

    const auto status = tk_status(env);
    CHECK(status.exit_code == 3);
    CHECK(contains(status.err, "the socket at " + env.socket.string() + " belongs to user " +
                                   std::to_string(pw->pw_uid) + ", not you"));
    CHECK(contains(status.err, "telemetry-kit did not send anything to it"));
    CHECK(impostor.received().empty());
}

TEST_CASE("debug mode says when the socket belongs to another user") {
    REQUIRE_ROOT_AND_NOBODY(pw);
    ClientHome env;
    ImpostorListener impostor(env.socket, pw->pw_uid, pw->pw_gid);
    ProcessOptions options;
    options.argv = {binary("demo-cli").string(), "greet", "Ada"};
    options.env = {{"TELEMETRY_KIT_HOME", env.home.string()},
                   {"TELEMETRY_KIT_SOCKET", env.socket.string()},
                   {"TELEMETRY_KIT_DEBUG", "1"}};
    const auto result = run(options, 20s);
    CHECK(result.exit_code == 0);
    CHECK(contains(result.err, "belongs to user " + std::to_string(pw->pw_uid) + ", not you"));
    CHECK(impostor.received().empty());
}

TEST_CASE("a socket directory another user owns, or anyone can write to, is not connected to") {
    ClientHome env;
    const fs::path run_dir = env.socket.parent_path();
    // A real listener of ours in that directory: only the directory is wrong.
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", env.socket.c_str());
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 64) == 0);
    ::fcntl(listener, F_SETFL, O_NONBLOCK);
    auto connections = [&] {
        int count = 0;
        for (int conn; (conn = ::accept(listener, nullptr, nullptr)) >= 0; ++count) ::close(conn);
        return count;
    };

    SECTION("writable by everyone") {
        ::chmod(run_dir.c_str(), 0777);
        {
            Client client(demo_config());
            client.track_command("build");
            CHECK(client.flush(2s));
            CHECK(client.stats().spooled == 1);
        }
        CHECK(connections() == 0);
        const auto status = tk_status(env);
        CHECK(status.exit_code == 3);
        CHECK(contains(status.err, "the directory " + run_dir.string() + " can be written by other users (mode 0777)"));
    }
    SECTION("owned by another user") {
        REQUIRE_ROOT_AND_NOBODY(pw);
        REQUIRE(::chown(run_dir.c_str(), pw->pw_uid, pw->pw_gid) == 0);
        {
            Client client(demo_config());
            client.track_command("build");
            CHECK(client.flush(2s));
            CHECK(client.stats().spooled == 1);
        }
        CHECK(connections() == 0);
        const auto status = tk_status(env);
        CHECK(status.exit_code == 3);
        CHECK(contains(status.err, "the directory " + run_dir.string() + " belongs to user " +
                                       std::to_string(pw->pw_uid) + ", not you"));
    }
    ::close(listener);
}

TEST_CASE("a FIFO planted as the spool: nothing is written, the tool does not hang, tk status says why") {
    ClientHome env;
    REQUIRE(::mkfifo(env.spool().c_str(), 0600) == 0);
    auto track_one = [] {
        Client client(demo_config());
        client.track_command("build");
        client.flush(1s);
        return static_cast<int>(client.stats().dropped);
    };
    SECTION("with no reader") {
        CHECK(in_child(track_one) == 1);  // dropped, and the child exited (did not hang in open)
    }
    SECTION("with a reader holding it open") {
        const int reader = ::open(env.spool().c_str(), O_RDONLY | O_NONBLOCK);
        REQUIRE(reader >= 0);
        CHECK(in_child(track_one) == 1);
        char byte;
        CHECK(::read(reader, &byte, 1) <= 0);  // not a byte arrived
        ::close(reader);
    }
    const auto status = tk_status(env);
    CHECK(contains(status.err, "spool: " + env.spool().string() + " is a FIFO (named pipe), not telemetry-kit's file"));
}

TEST_CASE("a symlink planted as the spool is not followed") {
    ClientHome env;
    const fs::path target = env.dir / "elsewhere";
    { std::ofstream touch(target); }
    fs::create_symlink(target, env.spool());
    CHECK(in_child([] {
              Client client(demo_config());
              client.track_command("build");
              client.flush(1s);
              return static_cast<int>(client.stats().dropped);
          }) == 1);
    CHECK(fs::file_size(target) == 0);
    CHECK(contains(tk_status(env).err, env.spool().string() + " is a symbolic link"));
}

TEST_CASE("a spool file or state dir of another user is not written to") {
    REQUIRE_ROOT_AND_NOBODY(pw);
    ClientHome env;
    SECTION("the spool file") {
        { std::ofstream touch(env.spool()); }
        REQUIRE(::chown(env.spool().c_str(), pw->pw_uid, pw->pw_gid) == 0);
        Client client(demo_config());
        client.track_command("build");
        CHECK(client.flush(2s));
        CHECK(client.stats().dropped == 1);
        CHECK(fs::file_size(env.spool()) == 0);
        CHECK(contains(tk_status(env).err, env.spool().string() + " belongs to user " + std::to_string(pw->pw_uid)));
    }
    SECTION("the state dir") {
        REQUIRE(::chown(env.home.c_str(), pw->pw_uid, pw->pw_gid) == 0);
        Client client(demo_config());
        client.track_command("build");
        CHECK(client.flush(2s));
        CHECK(client.stats().dropped == 1);
        CHECK_FALSE(fs::exists(env.spool()));
        CHECK(contains(tk_status(env).err, "the directory " + env.home.string() + " belongs to user"));
    }
}
