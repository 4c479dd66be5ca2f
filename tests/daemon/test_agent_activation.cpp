// The agent under a service manager, against the real tk-agent: started on the first connection by
// systemd-socket-activate and by a test activator that plays systemd's .socket unit; idle exit and
// restart without losing an event; no idle exit while a client is connected, while events wait to
// be sent, or when the agent was started directly; sd_notify READY=1 and STOPPING=1.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
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
        std::vector<std::string> argv = {binary("tk-agent").string(), "--socket", socket().string(), "--home",
                                         home().string(), "--log-level", "debug"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
};

/// Sends one event of `tool` on a new connection and waits for its flush ack; returns the event id.
std::string send_event(const fs::path& socket, const v1::ToolIdentity& tool, const std::string& name) {
    AgentClient client(socket);
    REQUIRE(client.hello(tool));
    auto event = make_event(name);
    REQUIRE(client.event(event));
    const auto ack = client.flush(std::chrono::seconds(20));  // includes the agent's start
    REQUIRE(ack);
    REQUIRE(ack->accepted() == 1);
    return event.id();
}

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

    const std::string id = send_event(dir.socket(), tool_identity("demo"), "first");
    CHECK(queued_ids(dir.socket()) == std::set<std::string>{id});
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

    // The next connection starts it again; the first event is still queued.
    const std::string second = send_event(dir.socket(), tool_identity("demo"), "second");
    CHECK(activator.starts() == 2);
    CHECK(queued_ids(dir.socket()) == std::set<std::string>{first, second});
    REQUIRE(wait_until([&] { return activator.exit_codes().size() == 2; }, 15s));
    CHECK(activator.exit_codes()[1] == 0);
    CHECK(activator.starts() == 2);
}

TEST_CASE("socket activation: connections arriving just as the agent goes idle are all served") {
    // The sleeps are the load pattern, not synchronisation: each connection comes about when the
    // idle timer (1 s after the previous connection closed) fires. Whether the running agent serves
    // it or it waits in the backlog for the next one, it must be acknowledged and stored.
    AgentDir dir;
    SocketActivator activator(dir.socket(), dir.agent_argv({"--idle-exit", "1"}), dir.env(), dir.log());
    std::set<std::string> sent;
    for (const int gap_ms : {0, 990, 1000, 1003, 1006, 1010, 1020}) {
        std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
        sent.insert(send_event(dir.socket(), tool_identity("demo"), "tick"));
    }
    CHECK(queued_ids(dir.socket()) == sent);
    REQUIRE(wait_until([&] { return !activator.running(); }, 15s));
    for (const int code : activator.exit_codes()) CHECK(code == 0);
    INFO("agent starts: " << activator.starts());
    CHECK(activator.starts() >= 1);
}

TEST_CASE("socket activation: no idle exit while a client is connected") {
    AgentDir dir;
    SocketActivator activator(dir.socket(), dir.agent_argv({"--idle-exit", "1"}), dir.env(), dir.log());
    {
        AgentClient client(dir.socket());
        REQUIRE(client.hello(tool_identity("demo")));
        REQUIRE(client.event(make_event("held")));
        REQUIRE(client.flush(20s));
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
    const std::string name = abstract ? "@tk-test-notify-" + std::to_string(::getpid())
                                      : (dir.dir.path() / "notify.sock").string();
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
