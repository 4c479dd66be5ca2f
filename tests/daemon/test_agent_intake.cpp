// The agent's intake, against the real tk-agent: store and flush, dedup, many clients, bad clients,
// peers of another uid, kill -9, spool import.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "agent_client.hpp"
#include "tk/common/framing.hpp"
#include "tk/common/spool_format.hpp"
#include "tk/common/uuid.hpp"

using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

std::set<std::string> queued_ids(RunningAgent& agent, const std::string& tool = "") {
    const auto response = agent.control(events_request(tool, 50'000));
    std::set<std::string> ids;
    for (const auto& event : response.events().events()) ids.insert(event.id());
    return ids;
}

}  // namespace

TEST_CASE("events are stored, flush acks after commit, and a re-sent id is stored once") {
    RunningAgent agent;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("demo")));
    std::vector<v1::Event> events;
    for (int i = 0; i < 10; ++i) {
        events.push_back(make_event("build"));
        REQUIRE(client.event(events.back()));
    }
    auto ack = client.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == 10);
    CHECK(ack->duplicates() == 0);
    CHECK(ack->dropped() == 0);

    // The same ids again, on this and on another connection: stored once.
    for (const auto& event : events) REQUIRE(client.event(event));
    ack = client.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == 10);
    CHECK(ack->duplicates() == 10);
    AgentClient other(agent.socket());
    REQUIRE(other.hello(tool_identity("demo")));
    REQUIRE(other.event(events[0]));
    REQUIRE(other.flush()->duplicates() == 1);

    const auto listed = agent.control(events_request("demo"));
    REQUIRE(listed.events().total() == 10);
    REQUIRE(listed.events().events_size() == 10);
    const auto& stored = listed.events().events(0);
    CHECK(stored.tool() == "demo");
    CHECK(stored.tool_version() == "1.0.0");
    CHECK(stored.anonymous_id().size() == 32);
    CHECK(stored.name() == "build");
    CHECK(agent.status().queue_events() == 10);
}

TEST_CASE("the anonymous id is per tool and stable across restarts") {
    RunningAgent agent;
    for (const char* tool : {"alpha", "beta"}) {
        AgentClient client(agent.socket());
        REQUIRE(client.hello(tool_identity(tool)));
        auto event = make_event("run");
        event.set_anonymous_id("client-made-up");
        REQUIRE(client.event(event));
        REQUIRE(client.flush());
    }
    const auto alpha = agent.control(events_request("alpha")).events().events(0).anonymous_id();
    const auto beta = agent.control(events_request("beta")).events().events(0).anonymous_id();
    CHECK(alpha != beta);
    CHECK(alpha != "client-made-up");
    REQUIRE(agent.stop() == 0);
    agent.start();
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("alpha")));
    REQUIRE(client.event(make_event("again")));
    REQUIRE(client.flush());
    const auto events = agent.control(events_request("alpha")).events();
    REQUIRE(events.events_size() == 2);
    CHECK(events.events(1).anonymous_id() == alpha);
}

TEST_CASE("many concurrent clients: every acknowledged event is stored exactly once") {
    RunningAgent agent;
    constexpr int kClients = 120;
    constexpr int kEvents = 50;
    std::vector<std::set<std::string>> sent(kClients);
    std::atomic<int> acked{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
        threads.emplace_back([&, c] {
            AgentClient client(agent.socket());
            client.hello(tool_identity("tool" + std::to_string(c % 4)));
            for (int i = 0; i < kEvents; ++i) {
                auto event = make_event("e" + std::to_string(i));
                sent[static_cast<std::size_t>(c)].insert(event.id());
                client.event(event);
                if (i % 10 == 0) client.event(event);  // a re-send
            }
            const auto ack = client.flush(std::chrono::seconds(30));
            if (ack && ack->accepted() == kEvents && ack->duplicates() == kEvents / 10) ++acked;
        });
    }
    for (auto& thread : threads) thread.join();
    REQUIRE(acked == kClients);
    const auto stored = queued_ids(agent);
    std::set<std::string> all;
    for (const auto& ids : sent) all.insert(ids.begin(), ids.end());
    CHECK(stored == all);
    CHECK(agent.status().queue_events() == kClients * kEvents);
}

TEST_CASE("a bad client is closed with a reason and harms no other client") {
    RunningAgent agent;
    AgentClient good(agent.socket());
    REQUIRE(good.hello(tool_identity("good")));
    REQUIRE(good.event(make_event("before")));

    SECTION("garbage bytes") {
        AgentClient bad(agent.socket());
        REQUIRE(bad.send_raw(std::string("\x00\x00\x00\x05hello", 9)));
        auto reply = bad.receive(std::chrono::seconds(5));
        REQUIRE(reply);
        CHECK(reply->has_error());
        CHECK(bad.closed_by_agent());
    }
    SECTION("an oversize length") {
        AgentClient bad(agent.socket());
        REQUIRE(bad.send_raw(std::string("\x7f\xff\xff\xff", 4)));
        auto reply = bad.receive(std::chrono::seconds(5));
        REQUIRE(reply);
        CHECK(reply->error().reason().find("exceeds") != std::string::npos);
        CHECK(bad.closed_by_agent());
    }
    SECTION("an event before hello") {
        AgentClient bad(agent.socket());
        REQUIRE(bad.event(make_event("x")));
        auto reply = bad.receive(std::chrono::seconds(5));
        REQUIRE(reply);
        CHECK(reply->error().reason() == "event before hello");
        CHECK(bad.closed_by_agent());
    }
    SECTION("an empty frame") {
        AgentClient bad(agent.socket());
        REQUIRE(bad.send_raw(std::string("\x00\x00\x00\x00", 4)));
        CHECK(bad.closed_by_agent());
    }
    SECTION("a half frame, then the client goes away") {
        {
            AgentClient bad(agent.socket());
            REQUIRE(bad.hello(tool_identity("bad")));
            std::string frame;
            v1::ClientFrame event;
            *event.mutable_event() = make_event("half");
            tk::framing::append_message(frame, event);
            REQUIRE(bad.send_raw(frame.substr(0, frame.size() / 2)));
        }
        REQUIRE(wait_until([&] { return agent.log().find("half frame") != std::string::npos; }));
    }
    REQUIRE(good.event(make_event("after")));
    const auto ack = good.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == 2);
    CHECK(agent.control(events_request("good")).events().total() == 2);
    CHECK(agent.control(events_request("bad")).events().total() == 0);
    CHECK(agent.running());
}

TEST_CASE("a peer of another uid is refused") {
    if (::geteuid() != 0) {
        WARN("needs root to run a client as nobody; skipped");
        return;
    }
    RunningAgent agent;
    // Let nobody reach the socket at all, so the refusal is the agent's own (SO_PEERCRED).
    REQUIRE(::chmod(agent.root().c_str(), 0711) == 0);
    REQUIRE(::chmod(agent.socket().parent_path().c_str(), 0711) == 0);
    REQUIRE(::chmod(agent.socket().c_str(), 0666) == 0);

    // A child as nobody sends hello, an event and a flush with a raw socket, and says what came back.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
        try {
            AgentClient client(agent.socket());
            client.hello(tool_identity("intruder"));
            client.event(make_event("sneaky"));
            const auto ack = client.flush(std::chrono::seconds(5));
            ::_exit(ack ? 1 : 0);  // 0: refused (no ack)
        } catch (...) {
            ::_exit(11);  // could not even connect: the test did not reach the agent
        }
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(agent.log().find("refused a peer of another user (uid 65534") != std::string::npos);
    CHECK(agent.control(events_request("intruder")).events().total() == 0);
}

TEST_CASE("kill -9 under load loses no event that flush acknowledged") {
    RunningAgent agent;
    constexpr int kWriters = 4;
    std::vector<std::vector<std::string>> acked(kWriters);
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
            try {
                AgentClient client(agent.socket());
                client.hello(tool_identity("load"));
                std::vector<std::string> pending;
                while (!stop) {
                    for (int i = 0; i < 100; ++i) {
                        auto event = make_event("load");
                        pending.push_back(event.id());
                        if (!client.event(event)) return;
                    }
                    if (!client.flush(std::chrono::seconds(5))) return;
                    auto& mine = acked[static_cast<std::size_t>(w)];
                    mine.insert(mine.end(), pending.begin(), pending.end());
                    pending.clear();
                }
            } catch (...) {
            }
        });
    }
    REQUIRE(wait_until(
        [&] {
            std::size_t n = 0;
            for (int w = 0; w < kWriters; ++w) n += acked[static_cast<std::size_t>(w)].size();
            return n >= 20'000;
        },
        std::chrono::seconds(20)));
    agent.kill();
    stop = true;
    for (auto& thread : writers) thread.join();

    agent.start();
    const auto stored = queued_ids(agent, "load");
    std::size_t total = 0;
    std::size_t missing = 0;
    for (const auto& ids : acked) {
        total += ids.size();
        for (const auto& id : ids) missing += stored.count(id) == 0 ? 1 : 0;
    }
    INFO("acknowledged " << total << ", stored " << stored.size());
    CHECK(total >= 20'000);
    CHECK(missing == 0);
}

TEST_CASE(
    "a spool left while the agent was down is imported once, policy applied, torn tail tolerated, legacy leftover "
    "read") {
    RunningAgent agent;
    REQUIRE(agent.stop() == 0);

    std::string spool;
    std::vector<std::string> kept;
    for (int i = 0; i < 5; ++i) {
        v1::SpoolRecord record;
        *record.mutable_tool() = tool_identity("spooled");
        *record.mutable_event() = make_event("offline");
        kept.push_back(record.event().id());
        tk::spool::append_record(spool, record.SerializeAsString());
    }
    {
        v1::SpoolRecord record;  // dropped by policy: DO_NOT_TRACK
        *record.mutable_tool() = tool_identity("spooled");
        record.mutable_signals()->set_do_not_track("1");
        record.mutable_signals()->set_do_not_track_set(true);
        *record.mutable_event() = make_event("offline");
        tk::spool::append_record(spool, record.SerializeAsString());
    }
    {
        v1::SpoolRecord record;  // a duplicate of the first
        *record.mutable_tool() = tool_identity("spooled");
        *record.mutable_event() = make_event("offline");
        record.mutable_event()->set_id(kept[0]);
        tk::spool::append_record(spool, record.SerializeAsString());
    }
    std::string truncated;
    {
        v1::SpoolRecord record;
        *record.mutable_tool() = tool_identity("spooled");
        *record.mutable_event() = make_event("cut off");
        tk::spool::append_record(truncated, record.SerializeAsString());
    }
    spool += truncated.substr(0, truncated.size() - 3);
    // A crashed import's leftover is imported too, even in the format before checksums (4-byte
    // length, payload: docs/protocol.md says why it stays readable).
    std::string leftover;
    v1::SpoolRecord earlier;
    *earlier.mutable_tool() = tool_identity("spooled");
    *earlier.mutable_event() = make_event("earlier");
    kept.push_back(earlier.event().id());
    tk::framing::append_message(leftover, earlier);
    std::ofstream(agent.home() / "spool", std::ios::binary) << spool;
    std::ofstream(agent.home() / "spool.importing", std::ios::binary) << leftover;

    agent.start();
    const auto stored = queued_ids(agent, "spooled");
    CHECK(stored == std::set<std::string>(kept.begin(), kept.end()));
    CHECK(!std::filesystem::exists(agent.home() / "spool"));
    CHECK(!std::filesystem::exists(agent.home() / "spool.importing"));
    CHECK(dropped(agent.status(), "spooled", "do_not_track") == 1);
    CHECK(agent.log().find("torn or corrupt") != std::string::npos);
    CHECK(agent.status().spool().damaged_spans() == 1);
}

TEST_CASE("a second agent on a live socket refuses to start, a stale socket is replaced") {
    RunningAgent agent;
    ProcessOptions options;
    options.argv = {binary("tk-agent").string(), "--socket", agent.socket().string(), "--home",
                    (agent.root() / "other-home").string()};
    const auto second = run(options, std::chrono::seconds(10));
    CHECK(second.exit_code != 0);
    CHECK(second.err.find("another agent is already running on") != std::string::npos);
    CHECK(second.out.empty());

    agent.kill();  // leaves the socket file behind
    REQUIRE(std::filesystem::exists(agent.socket()));
    agent.start();
    CHECK(agent.log().find("removing stale socket") != std::string::npos);
    CHECK(agent.stop() == 0);
}

TEST_CASE("the agent adopts a socket-activated listener (LISTEN_FDS)") {
    TempDir dir;
    const auto socket_path = dir / "activated.sock";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 16) == 0);

    const auto log = dir / "agent.log";
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // What systemd does: the listener as fd 3, LISTEN_PID naming this very process.
        ::dup2(listener, 3);
        ::setenv("LISTEN_FDS", "1", 1);
        ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
        const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(err, 2);
        const std::string agent = binary("tk-agent").string();
        const std::string home = (dir / "home").string();
        const std::string unused = (dir / "unused" / "agent.sock").string();
        ::execl(agent.c_str(), agent.c_str(), "--home", home.c_str(), "--socket", unused.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(listener);
    {
        AgentClient client(socket_path);
        REQUIRE(client.hello(tool_identity("activated")));
        REQUIRE(client.event(make_event("run")));
        const auto ack = client.flush();
        REQUIRE(ack);
        CHECK(ack->accepted() == 1);
    }
    CHECK(!std::filesystem::exists(dir / "unused" / "agent.sock"));
    ::kill(pid, SIGTERM);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_file(log).find("socket-activated listener") != std::string::npos);
}

TEST_CASE("an idle agent does not wake up") {
    RunningAgent agent;
    {
        AgentClient client(agent.socket());
        REQUIRE(client.hello(tool_identity("idle")));
        REQUIRE(client.event(make_event("once")));
        REQUIRE(client.flush());
    }
    agent.status();
    auto cpu_ticks = [&agent] {
        const std::string stat = read_file("/proc/" + std::to_string(agent.process().pid()) + "/stat");
        std::istringstream fields(stat.substr(stat.rfind(')') + 2));
        std::string field;
        long ticks = 0;
        for (int i = 3; i <= 15 && fields >> field; ++i) {
            if (i == 14 || i == 15) ticks += std::atol(field.c_str());
        }
        return ticks;
    };
    // Let the last reply's work finish, then measure a quiet window (a measurement, not a wait).
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const long before = cpu_ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(cpu_ticks() - before == 0);
}
