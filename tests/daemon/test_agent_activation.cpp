// The agent under a service manager, against the real tk-agent: started on the first connection by
// systemd-socket-activate and by a test activator that plays systemd's .socket unit; idle exit and
// restart without losing an event; no idle exit while a client is connected, while events wait to
// be sent, or when the agent was started directly; sd_notify READY=1 and STOPPING=1.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

#include "agent_client.hpp"
#include "socket_activator.hpp"

using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

/// A temp dir laid out like RunningAgent's: run/agent.sock, home/, the agent's log.
struct AgentDir {
    TempDir dir{"tk-activation-"};
    fs::path socket() const { return dir.path() / "run" / "agent.sock"; }
    fs::path home() const { return dir.path() / "home"; }
    fs::path log() const { return dir.path() / "agent.log"; }
    std::map<std::string, std::string> env() const {
        auto env = hermetic_env(dir.path());
        env["TELEMETRY_KIT_SOCKET"] = socket().string();
        env["TELEMETRY_KIT_HOME"] = home().string();
        return env;
    }
    /// tk-agent on our socket and home, with `extra` flags.
    std::vector<std::string> agent_argv(std::vector<std::string> extra) const {
        std::vector<std::string> argv = {binary("tk-agent").string(),
                                         "--socket",
                                         socket().string(),
                                         "--home",
                                         home().string(),
                                         "--log-level",
                                         "debug"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
};

/// On `client`: Hello, one event of `tool`, and its flush ack; returns the event id.
std::string send_one(AgentClient& client, const v1::ToolIdentity& tool, const std::string& name) {
    REQUIRE(client.hello(tool));
    auto event = make_event(name);
    REQUIRE(client.event(event));
    const auto ack = client.flush(std::chrono::seconds(20));  // includes the agent's start
    REQUIRE(ack);
    REQUIRE(ack->accepted() == 1);
    return event.id();
}

/// Sends one event of `tool` on a new connection and waits for its flush ack; returns the event id.
std::string send_event(const fs::path& socket, const v1::ToolIdentity& tool, const std::string& name) {
    AgentClient client(socket);
    return send_one(client, tool, name);
}

/// On one connection: sends one event of `tool`, waits for its flush ack, then lists the queued
/// events. The open connection keeps an activated agent from idling out in between, so both come
/// from the same agent and the listing costs no extra start.
struct SentAndQueued {
    std::string id;
    std::set<std::string> queued;
};
SentAndQueued send_and_list(const fs::path& socket, const v1::ToolIdentity& tool, const std::string& name) {
    AgentClient client(socket);
    const std::string id = send_one(client, tool, name);
    const auto response = client.control(events_request("", 1000), std::chrono::seconds(20));
    REQUIRE(response);
    REQUIRE(response->error().empty());
    SentAndQueued result{id, {}};
    for (const auto& queued : response->events().events()) result.queued.insert(queued.id());
    return result;
}

/// How many times `needle` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
    return count;
}

/// Waits until the agents' shared log holds `needle` `count` times.
bool wait_for_log(const AgentDir& dir, const std::string& needle, std::size_t count) {
    return wait_until([&] { return occurrences(read_file(dir.log()), needle) >= count; }, 20s);
}

// The agent's log lines when its idle timer fires (its accept is cancelled: from now on a new
// connection waits in the backlog) and when it has decided to exit.
const std::string kStoppedAccepting = "stopped accepting; checking whether there is anything to send";
const std::string kExiting = "with nothing to send: exiting";

std::set<std::string> queued_ids(const fs::path& socket) {
    AgentClient client(socket);
    const auto response = client.control(events_request("", 1000), std::chrono::seconds(20));
    REQUIRE(response);
    REQUIRE(response->error().empty());
    std::set<std::string> ids;
    for (const auto& event : response->events().events()) ids.insert(event.id());
    return ids;
}

std::optional<fs::path> find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const fs::path candidate = fs::path(dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return std::nullopt;
}

/// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
class NotifySocket {
public:
    /// `name`: a path, or "@name" for the abstract namespace.
    explicit NotifySocket(const std::string& name) : name_(name) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(name.size() < sizeof address.sun_path);
        std::memcpy(address.sun_path, name.data(), name.size());
        if (name[0] == '@') address.sun_path[0] = '\0';
        const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) == 0);
    }
    ~NotifySocket() { ::close(fd_); }
    const std::string& name() const { return name_; }
    /// The next datagram, or nullopt after `deadline`.
    std::optional<std::string> receive(std::chrono::milliseconds deadline = 10s) {
        pollfd ready{fd_, POLLIN, 0};
        if (::poll(&ready, 1, static_cast<int>(deadline.count())) != 1) return std::nullopt;
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n < 0) return std::nullopt;
        return std::string(buffer, static_cast<std::size_t>(n));
    }

private:
    std::string name_;
    int fd_ = -1;
};

/// A socket of `family`/`type`, bound (to `path` for AF_UNIX, to a free 127.0.0.1 port for
/// AF_INET) and listening if `listening`; close-on-exec, closed on destruction.
class TestSocket {
public:
    TestSocket(int family, int type, const fs::path& path, bool listening) {
        fd_ = ::socket(family, type | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        if (family == AF_UNIX) {
            sockaddr_un address{};
            address.sun_family = AF_UNIX;
            REQUIRE(path.native().size() < sizeof address.sun_path);
            std::memcpy(address.sun_path, path.c_str(), path.native().size() + 1);
            REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        } else {
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
        }
        if (listening) REQUIRE(::listen(fd_, 16) == 0);
    }
    ~TestSocket() { ::close(fd_); }
    TestSocket(const TestSocket&) = delete;
    TestSocket& operator=(const TestSocket&) = delete;
    int fd() const { return fd_; }

private:
    int fd_ = -1;
};

/// Runs tk-agent as a service manager would — LISTEN_PID set to its pid, LISTEN_FDS to
/// `listen_fds` — with `fd3` as its fd 3 and `fd4` as its fd 4 (-1: nothing open there), stderr
/// appended to dir.log(). Returns its exit code, or nullopt if it still ran after 20 s (then it is
/// killed).
std::optional<int> run_activated(const AgentDir& dir, int fd3, int fd4, const std::string& listen_fds) {
    // Everything the child needs is made before fork(): after it only async-signal-safe calls.
    std::vector<std::string> argv_strings = dir.agent_argv({"--idle-exit", "1"});
    std::vector<char*> argv;
    for (auto& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (const auto& [name, value] : dir.env()) env_strings.push_back(name + "=" + value);
    if (const char* path = std::getenv("PATH"); path != nullptr) env_strings.push_back(std::string("PATH=") + path);
    env_strings.push_back("LISTEN_FDS=" + listen_fds);
    env_strings.push_back("LISTEN_PID=" + std::string(20, '\0'));  // filled in by the child
    std::vector<char*> envp;
    for (auto& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
    char* pid_digits = env_strings.back().data() + std::strlen("LISTEN_PID=");
    const std::string log = dir.log().string();
    constexpr int kHigh = 200;  // above anything the test has open, so the dup2s below cannot clobber

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (null < 0 || err < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
        const int high3 = fd3 >= 0 ? ::fcntl(fd3, F_DUPFD, kHigh) : -1;
        const int high4 = fd4 >= 0 ? ::fcntl(fd4, F_DUPFD, kHigh + 10) : -1;
        for (int fd = 3; fd < kHigh; ++fd) ::close(fd);
        if (high3 >= 0 && ::dup2(high3, 3) < 0) ::_exit(126);  // dup2: the copy is not close-on-exec
        if (high4 >= 0 && ::dup2(high4, 4) < 0) ::_exit(126);
        for (int fd = kHigh; fd < kHigh + 20; ++fd) ::close(fd);
        write_pid_digits(::getpid(), pid_digits);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    int status = 0;
    if (!wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 20s)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return std::nullopt;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("systemd-socket-activate: the first connection starts the agent, and idle it exits 0 by itself") {
    const auto activate = find_program("systemd-socket-activate");
    if (!activate) {
        WARN("systemd-socket-activate (Debian's systemd package) is not installed; skipped");
        return;
    }
    AgentDir dir;
    fs::create_directories(dir.socket().parent_path());
    ProcessOptions options;
    // Without --accept it listens, waits for the first connection, then execs the agent in its
    // own process with the listener as fd 3. It passes on only the environment it is told to.
    options.argv = {activate->string(), "-l", dir.socket().string()};
    for (const auto& [name, value] : dir.env()) {
        options.argv.push_back("-E");
        options.argv.push_back(name + "=" + value);
    }
    const auto agent = dir.agent_argv({"--idle-exit", "2"});
    options.argv.insert(options.argv.end(), agent.begin(), agent.end());
    options.env = dir.env();
    options.stderr_file = dir.log();
    ChildProcess process(options);

    // Listening, but no agent yet: it has not even made its state directory.
    REQUIRE(wait_until([&] { return fs::is_socket(dir.socket()); }));
    CHECK(process.running());
    CHECK_FALSE(fs::exists(dir.home()));

    // One connection: nothing restarts the agent once it has exited (systemd-socket-activate has
    // become the agent), so it must not idle out between the event and the listing.
    const auto first = send_and_list(dir.socket(), tool_identity("demo"), "first");
    CHECK(first.queued == std::set<std::string>{first.id});
    const auto log = read_file(dir.log());
    CHECK_THAT(log, Catch::Contains("using the socket-activated listener"));
    CHECK_THAT(log, Catch::Contains("exits after 2 s idle"));

    // No connection and nothing to send: it exits by itself, cleanly.
    const auto code = process.wait(15s);
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK_THAT(read_file(dir.log()), Catch::Contains("idle for 2 s with nothing to send: exiting"));
    // systemd owns the socket file: the agent leaves it alone (here systemd-socket-activate is gone
    // too, so the file remains with nobody listening).
    CHECK(fs::is_socket(dir.socket()));
}

TEST_CASE("socket activation: idle exit and restart on the next connection lose no event") {
    AgentDir dir;
    SocketActivator activator(dir.socket(), dir.agent_argv({"--idle-exit", "1"}), dir.env(), dir.log());
    CHECK(activator.starts() == 0);

    const std::string first = send_event(dir.socket(), tool_identity("demo"), "first");
    CHECK(activator.starts() == 1);
    // Idle: it exits 0 by itself.
    REQUIRE(wait_until([&] { return activator.exit_codes().size() == 1; }, 15s));
    CHECK(activator.exit_codes()[0] == 0);
    CHECK_FALSE(activator.running());
    CHECK(fs::is_socket(dir.socket()));  // the listener's file is the activator's, not removed

    // The next connection starts it again; the first event is still queued. Event and listing go
    // over one connection, which keeps this agent up until both are answered: exactly one start.
    const auto second = send_and_list(dir.socket(), tool_identity("demo"), "second");
    CHECK(second.queued == std::set<std::string>{first, second.id});
    CHECK(activator.starts() == 2);
    REQUIRE(wait_until([&] { return activator.exit_codes().size() == 2; }, 15s));
    CHECK(activator.exit_codes()[1] == 0);
    CHECK(activator.starts() == 2);

    // A third agent, started by a listing alone, finds both events in the queue.
    CHECK(queued_ids(dir.socket()) == std::set<std::string>{first, second.id});
    CHECK(activator.starts() == 3);
    REQUIRE(wait_until([&] { return activator.exit_codes().size() == 3; }, 15s));
    CHECK(activator.exit_codes()[2] == 0);
}

TEST_CASE("socket activation: connections arriving just as the agent goes idle are all served") {
    // Each connection is made right after the agent logged a step of going idle: once its idle
    // timer fired (its pending accept is cancelled, the decision not yet made), once it decided to
    // exit (before it closes its listener). From either point the agent accepts nothing more, so
    // the connection waits in the backlog of the activator's socket, and the next agent must serve
    // it: the event is acknowledged and stored, and each such connection costs exactly one start.
    // A lost connection or event fails a REQUIRE in send_and_list (no ack within 20 s) or the
    // comparison of the queue.
    AgentDir dir;
    SocketActivator activator(dir.socket(), dir.agent_argv({"--idle-exit", "1"}), dir.env(), dir.log());
    std::set<std::string> sent;
    sent.insert(send_event(dir.socket(), tool_identity("demo"), "first"));
    REQUIRE(activator.starts() == 1);

    // The first agent's idle timer fired and it stopped accepting; connect at once.
    REQUIRE(wait_for_log(dir, kStoppedAccepting, 1));
    {
        const auto served = send_and_list(dir.socket(), tool_identity("demo"), "after the idle timer");
        sent.insert(served.id);
        CHECK(served.queued == sent);
    }
    // The first agent exited without taking the connection; a second one served it.
    CHECK(activator.starts() == 2);
    CHECK(activator.exit_codes() == std::vector<int>{0});

    // The second agent decided to exit (the first one's line is in the log too); connect at once.
    REQUIRE(wait_for_log(dir, kExiting, 2));
    {
        const auto served = send_and_list(dir.socket(), tool_identity("demo"), "after the decision to exit");
        sent.insert(served.id);
        CHECK(served.queued == sent);
    }
    CHECK(activator.starts() == 3);
    CHECK(activator.exit_codes() == std::vector<int>{0, 0});

    // And the third one goes idle and exits cleanly too.
    REQUIRE(wait_until([&] { return activator.exit_codes().size() == 3; }, 15s));
    CHECK(activator.exit_codes() == std::vector<int>{0, 0, 0});
    CHECK(activator.starts() == 3);
}

TEST_CASE("socket activation: no idle exit while a client is connected") {
    AgentDir dir;
    SocketActivator activator(dir.socket(), dir.agent_argv({"--idle-exit", "1"}), dir.env(), dir.log());
    {
        AgentClient client(dir.socket());
        REQUIRE(client.hello(tool_identity("demo")));
        REQUIRE(client.event(make_event("held")));
        REQUIRE(client.flush(20s));
#ifdef __linux__
        // The agent made the listener it inherited (fd 3, not close-on-exec) close-on-exec.
        const auto pid = activator.running();
        REQUIRE(pid);
        const std::string fdinfo = read_file(fs::path("/proc") / std::to_string(*pid) / "fdinfo" / "3");
        const auto flags_at = fdinfo.find("flags:");
        REQUIRE(flags_at != std::string::npos);
        const unsigned long flags = std::stoul(fdinfo.substr(flags_at + 6), nullptr, 8);  // octal
        CHECK((flags & O_CLOEXEC) != 0);
#endif
        // A bounded observation well past idle_exit_s (1 s): the open connection keeps it up.
        CHECK_FALSE(wait_until([&] { return !activator.exit_codes().empty(); }, 3s));
        CHECK(activator.running());
        REQUIRE(client.flush());  // still served on the same connection
    }
    // Closed: now it is idle.
    REQUIRE(wait_until([&] { return activator.exit_codes().size() == 1; }, 15s));
    CHECK(activator.exit_codes()[0] == 0);
    CHECK(activator.starts() == 1);
}

TEST_CASE("socket activation: events waiting for an unreachable collector keep the agent up") {
    AgentDir dir;
    SocketActivator activator(dir.socket(), dir.agent_argv({"--idle-exit", "1"}), dir.env(), dir.log());
    auto tool = tool_identity("demo");
    tool.set_endpoint("http://127.0.0.1:" + std::to_string(free_tcp_port()));  // nothing listens there
    tool.set_ingest_key("key");
    send_event(dir.socket(), tool, "unsent");

    // The forwarder keeps retrying: not idle, within an observation window well past idle_exit_s.
    CHECK_FALSE(wait_until([&] { return !activator.exit_codes().empty(); }, 3s));
    CHECK(activator.running());
    CHECK(activator.starts() == 1);
    CHECK(queued_ids(dir.socket()).size() == 1);
    CHECK_THAT(read_file(dir.log()), Catch::Contains("there are events to send: staying"));
}

TEST_CASE("socket activation: anything but one listening Unix stream socket on fd 3 stops the start") {
    struct Case {
        const char* name;
        const char* listen_fds;
        const char* message;
    };
    const Case c = GENERATE(Case{"two sockets", "2", "LISTEN_FDS=2, but the agent takes exactly one socket"},
                            Case{"LISTEN_FDS not a number", "one", "LISTEN_FDS='one' is not a number of descriptors"},
                            // Whatever the agent opens first (its event loop's descriptors) may land on fd 3: the
                            // message may then say "is not a socket", but it must not take that for the listener.
                            Case{"nothing on fd 3", "1", "fd 3 (LISTEN_FDS=1) is not "},
                            Case{"a file", "1", "fd 3 (LISTEN_FDS=1) is not a socket"},
                            Case{"a datagram socket", "1", "fd 3 (LISTEN_FDS=1) is not a stream socket"},
                            Case{"a TCP socket", "1", "fd 3 (LISTEN_FDS=1) is not a Unix socket"},
                            Case{"a Unix socket nobody listens on", "1", "fd 3 (LISTEN_FDS=1) is not listening"});
    INFO(c.name);
    const std::string name = c.name;
#ifndef __linux__
    if (name == "a Unix socket nobody listens on") return;  // SO_ACCEPTCONN is checked on Linux only
#endif
    AgentDir dir;
    fs::create_directories(dir.socket().parent_path());
    std::optional<TestSocket> socket;
    std::optional<TestSocket> second;
    int fd3 = -1;
    int fd4 = -1;
    int file = -1;
    if (name == "two sockets") {
        socket.emplace(AF_UNIX, SOCK_STREAM, dir.socket(), true);
        second.emplace(AF_UNIX, SOCK_STREAM, dir.dir.path() / "second.sock", true);
        fd3 = socket->fd();
        fd4 = second->fd();
    } else if (name == "LISTEN_FDS not a number") {
        socket.emplace(AF_UNIX, SOCK_STREAM, dir.socket(), true);
        fd3 = socket->fd();
    } else if (name == "a file") {
        file = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        REQUIRE(file >= 0);
        fd3 = file;
    } else if (name == "a datagram socket") {
        socket.emplace(AF_UNIX, SOCK_DGRAM, dir.socket(), false);
        fd3 = socket->fd();
    } else if (name == "a TCP socket") {
        socket.emplace(AF_INET, SOCK_STREAM, fs::path(), true);
        fd3 = socket->fd();
    } else if (name == "a Unix socket nobody listens on") {
        socket.emplace(AF_UNIX, SOCK_STREAM, dir.socket(), false);
        fd3 = socket->fd();
    }

    const auto code = run_activated(dir, fd3, fd4, c.listen_fds);
    if (file >= 0) ::close(file);
    const std::string log = read_file(dir.log());
    INFO(log);
    REQUIRE(code);  // it did not start serving
    CHECK(*code == 1);
    CHECK_THAT(log, Catch::Contains(std::string("tk-agent: socket activation: ") + c.message));
    CHECK_THAT(log, !Catch::Contains("ready on"));
}

TEST_CASE("without socket activation --idle-exit does not stop the agent") {
    RunningAgent agent("", {"--idle-exit", "1"});
    CHECK_FALSE(wait_until([&] { return !agent.running(); }, 3s));
    CHECK(agent.running());
    CHECK_THAT(agent.log(), Catch::Contains("idle exit is off: the agent was not socket-activated"));
    CHECK(agent.status().queue_events() == 0);
    CHECK(agent.stop() == 0);
    CHECK_FALSE(fs::exists(agent.socket()));  // its own socket file: removed on exit
}

TEST_CASE("sd_notify: READY=1 once it accepts, STOPPING=1 on SIGTERM") {
    AgentDir dir;
    const bool abstract = GENERATE(false, true);
    const std::string name =
        abstract ? "@tk-test-notify-" + std::to_string(::getpid()) : (dir.dir.path() / "notify.sock").string();
    NotifySocket notify(name);
    ProcessOptions options;
    options.argv = dir.agent_argv({});
    options.env = dir.env();
    options.env["NOTIFY_SOCKET"] = name;
    options.stderr_file = dir.log();
    ChildProcess agent(options);

    const auto ready = notify.receive(10s);
    REQUIRE(ready);
    CHECK(*ready == "READY=1");
    // Ready means accepting: a request is answered at once.
    CHECK(queued_ids(dir.socket()).empty());

    agent.signal(SIGTERM);
    const auto stopping = notify.receive(10s);
    REQUIRE(stopping);
    CHECK(*stopping == "STOPPING=1");
    CHECK(agent.wait(10s) == 0);
}
