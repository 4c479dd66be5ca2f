// The chaos run: client processes (the real client library) -> the real tk-agent -> HAProxy ->
// two tk-collectors -> one throwaway PostgreSQL, the scale-out shape of docs/scaling.md. While the
// clients send, the test SIGKILLs the agent and restarts it, SIGKILLs one collector (HAProxy's
// health checks route around it; it is restarted later) and restarts PostgreSQL (the collectors
// reconnect). At the end every event a client did not report as dropped must be in PostgreSQL
// exactly once, and the test prints the figures.
//
// The faults are placed by the clients' gate (tests/chaos/chaos_client.cpp): the test raises the
// number of events each client may send around each fault, so every fault lands while events
// are arriving, and every "it recovered" check waits for rows that could only be stored after
// the fault. No step waits for a time; each waits for a condition, with a deadline.
#include <sqlite3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <regex>
#include <thread>

#include "../daemon/agent_client.hpp"
#include "chaos/haproxy.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "tk/common/framing.hpp"
#include "tk/common/spool_format.hpp"

using namespace std::chrono_literals;
using namespace tk::test;
namespace v1 = telemetry_kit::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kClients = 4;
constexpr long long kEvents = 2000;  // per client
constexpr const char* kTool = "chaos-tool";

/// Send almost at once, retry quickly (a fault costs the run a second, not a minute).
const char* kAgentConfig =
    "[forwarder]\n"
    "coalesce_ms = 10\n"
    "initial_backoff_ms = 50\n"
    "max_backoff_s = 1\n"
    "request_timeout_s = 10\n";

/// Polls `condition` every `every` until it holds or `deadline` passes: for conditions that cost a
/// process (psql) to check, where wait_until's 20 ms would load the machine it is measuring.
bool wait_every(std::chrono::milliseconds every, std::chrono::milliseconds deadline,
                const std::function<bool()>& condition) {
    const auto end = Clock::now() + deadline;
    while (!condition()) {
        if (Clock::now() >= end) return false;
        std::this_thread::sleep_for(every);
    }
    return true;
}

/// The last `bytes` of a log, for a failure message.
std::string tail(const std::string& log, std::size_t bytes = 3000) {
    return log.size() <= bytes ? log : "..." + log.substr(log.size() - bytes);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// A tk-collector over a PostgreSQL it shares (CollectorFixture owns a cluster of its own).
class Collector {
public:
    Collector(std::string name, std::string database_url)
        : name_(std::move(name)), database_url_(std::move(database_url)), port_(free_tcp_port()) {
        start();
    }
    ~Collector() { kill(); }

    /// Starts it and waits until it says it is listening.
    void start() {
        ++starts_;
        ProcessOptions options;
        options.argv = {binary("tk-collector").string(),      "serve",          "--listen",
                        "127.0.0.1:" + std::to_string(port_), "--database-url", database_url_};
        options.env = hermetic_env(dir_.path());
        options.stderr_file = log_file();
        process_.emplace(options);
        if (!wait_until([&] { return log().find("listening on") != std::string::npos || !process_->running(); }, 20s) ||
            !process_->running()) {
            throw std::runtime_error("tk-collector " + name_ + " did not start:\n" + log());
        }
    }
    void kill() {
        if (process_) process_->kill();
        process_.reset();
    }
    Backend backend() const { return {name_, port_}; }
    std::string log() const { return read_file(log_file()); }

private:
    fs::path log_file() const { return dir_ / (name_ + "-" + std::to_string(starts_) + ".log"); }

    TempDir dir_{"tk-chaos-collector-"};
    std::string name_;
    std::string database_url_;
    unsigned short port_;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
};

/// What one client process printed at its end.
struct ClientReport {
    long long tracked = -1, delivered = -1, spooled = -1, dropped = -1, reconnects = -1, flushed = -1;
};

std::optional<ClientReport> parse_report(const std::string& out) {
    static const std::regex line(
        R"(tracked=(\d+) delivered=(\d+) spooled=(\d+) dropped=(\d+) reconnects=(\d+) flushed=([01]))");
    std::smatch m;
    if (!std::regex_search(out, m, line)) return std::nullopt;
    return ClientReport{std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3]),
                        std::stoll(m[4]), std::stoll(m[5]), std::stoll(m[6])};
}

/// The client processes and the gate file that says how many events each may have sent so far.
class Clients {
public:
    Clients(const RunningAgent& agent, const std::string& endpoint, const std::string& key) {
        open_gate(0);
        for (int i = 0; i < kClients; ++i) {
            ProcessOptions options;
            options.argv = {TK_CHAOS_CLIENT,         kTool,          endpoint, key, std::to_string(i),
                            std::to_string(kEvents), gate().string()};
            options.env = agent.env();
            options.stdout_file = out(i);
            options.stderr_file = dir_ / ("client-" + std::to_string(i) + ".err");
            processes_.emplace_back(options);
        }
    }

    /// Lets each client send its first `events` events (rename: a reader sees the old or new number).
    void open_gate(long long events) {
        std::ofstream(dir_ / "gate.tmp") << events << "\n";
        fs::rename(dir_ / "gate.tmp", gate());
    }

    /// Waits until every client has exited; their exit codes.
    std::vector<int> wait(std::chrono::milliseconds deadline) {
        std::vector<int> codes;
        const auto end = Clock::now() + deadline;
        for (auto& process : processes_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
            codes.push_back(process.wait(std::max(left, 0ms)).value_or(-1));
        }
        return codes;
    }

    std::optional<ClientReport> report(int i) const { return parse_report(read_file(out(i))); }
    std::string errors(int i) const { return read_file(dir_ / ("client-" + std::to_string(i) + ".err")); }

private:
    fs::path gate() const { return dir_ / "gate"; }
    fs::path out(int i) const { return dir_ / ("client-" + std::to_string(i) + ".out"); }

    TempDir dir_{"tk-chaos-clients-"};
    std::vector<ChildProcess> processes_;
};

long long stored(const PostgresCluster& postgres, const std::string& what = "count(*)") {
    return std::stoll(postgres.query("SELECT " + what + " FROM events WHERE tool = '" + kTool + "'"));
}

/// Waits until at least `rows` of the tool's events are in PostgreSQL.
bool wait_for_rows(const PostgresCluster& postgres, long long rows, std::chrono::milliseconds deadline = 60s) {
    return wait_every(100ms, deadline, [&] { return stored(postgres) >= rows; });
}

/// Size of the client spool file (what clients wrote while they could not reach the agent).
long long spool_bytes(const RunningAgent& agent) {
    struct stat st {};
    return ::stat((agent.home() / "spool").c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

/// Records in the client spool file (each one event).
long long spool_records(const RunningAgent& agent) {
    const std::string bytes = read_file(agent.home() / "spool");
    return static_cast<long long>(tk::spool::scan(bytes).records.size());
}

}  // namespace

// REQUIRE with the logs of every process attached, read when (and only when) it fails.
#define REQUIRE_OR_SHOW_LOGS(condition)                             \
    do {                                                            \
        if (!(condition)) {                                         \
            FAIL(#condition << "\n--- agent:\n"                     \
                            << tail(agent.log()) << "\n--- c1:\n"   \
                            << tail(c1.log()) << "\n--- c2:\n"      \
                            << tail(c2.log()) << "\n--- haproxy:\n" \
                            << tail(haproxy.log()));                \
        }                                                           \
    } while (false)

TEST_CASE("chaos: agent SIGKILLed, a collector SIGKILLed behind HAProxy, PostgreSQL restarted - every event once") {
    const auto run_start = Clock::now();
    PostgresCluster postgres;
    Collector c1("c1", postgres.url());
    Collector c2("c2", postgres.url());
    ProcessOptions create_key;
    create_key.argv = {
        binary("tk-collector").string(), "keys", "create", "--tool", kTool, "--database-url", postgres.url()};
    const RunResult made = run(create_key);
    REQUIRE(made.exit_code == 0);
    const std::string key = made.out.substr(0, made.out.find('\n'));
    HaProxy haproxy({c1.backend(), c2.backend()});
    REQUIRE(haproxy.wait_for("c1", "UP"));
    REQUIRE(haproxy.wait_for("c2", "UP"));

    RunningAgent agent(kAgentConfig);
    agent.control(consent_request(v1::ConsentRequest::ACTION_GRANT, kTool));
    int agent_kills = 0, agent_restarts = 0, collector_kills = 0, collector_restarts = 0, postgres_restarts = 0;
    Clients clients(agent, haproxy.base_url(), key);

    // Load flows end to end.
    clients.open_gate(400);
    REQUIRE_OR_SHOW_LOGS(wait_for_rows(postgres, 100));

    // 1. The agent SIGKILLed while the clients send; they retry, then spool. Restarted, it imports
    //    the spool, and the events sent after it came back are stored.
    clients.open_gate(800);
    agent.kill();
    ++agent_kills;
    wait_until([&] { return spool_bytes(agent) > 0; }, 10s);  // usually; the run holds either way
    agent.start();
    ++agent_restarts;
    long long mark = stored(postgres);
    clients.open_gate(1000);
    REQUIRE_OR_SHOW_LOGS(wait_for_rows(postgres, mark + 100));

    // 2. One collector SIGKILLed while batches arrive; HAProxy marks it DOWN and the other one
    //    takes everything.
    clients.open_gate(1200);
    c1.kill();
    ++collector_kills;
    REQUIRE_OR_SHOW_LOGS(haproxy.wait_for("c1", "DOWN"));
    mark = stored(postgres);
    clients.open_gate(1400);
    REQUIRE_OR_SHOW_LOGS(wait_for_rows(postgres, mark + 100));

    // 3. The killed collector comes back; HAProxy's health check marks it UP.
    c1.start();
    ++collector_restarts;
    REQUIRE_OR_SHOW_LOGS(haproxy.wait_for("c1", "UP"));
    const long long c1_before = haproxy.sessions("c1");

    // 4. PostgreSQL restarted (fast: in-flight transactions abort) under load; both collectors
    //    answer 503 meanwhile, then reconnect: rows arrive again, and both answer /healthz (a
    //    query) again.
    clients.open_gate(1600);
    postgres.restart();
    ++postgres_restarts;
    mark = stored(postgres);
    clients.open_gate(1800);
    REQUIRE_OR_SHOW_LOGS(wait_for_rows(postgres, mark + 100));
    REQUIRE_OR_SHOW_LOGS(haproxy.wait_for("c1", "UP"));
    REQUIRE_OR_SHOW_LOGS(haproxy.wait_for("c2", "UP"));
    clients.open_gate(kEvents);

    // Every client finishes and says what it sent and what it lost.
    const auto codes = clients.wait(90s);
    const auto clients_done = Clock::now();
    long long sent = 0, dropped = 0, spooled = 0, reconnects = 0;
    std::vector<ClientReport> reports;
    for (int i = 0; i < kClients; ++i) {
        INFO("client " << i << " exit " << codes[i] << ": " << clients.errors(i));
        REQUIRE(codes[i] == 0);
        const auto report = clients.report(i);
        REQUIRE(report);
        CHECK(report->tracked == kEvents);
        CHECK(report->flushed == 1);  // so its dropped count is final
        reports.push_back(*report);
        sent += report->tracked;
        dropped += report->dropped;
        spooled += report->spooled;
        reconnects += report->reconnects;
    }

    // Events a client spooled after the restarted agent's start-up import (while it backed off
    // before reconnecting) are imported by the running agent within moments of being written
    // (its spool watcher). They must not wait for the agent's next start.
    const long long left_in_spool = spool_records(agent);
    const long long expected = sent - dropped;
    const bool drained =
        wait_every(100ms, 60s, [&] { return agent.status().queue_events() == 0 && stored(postgres) >= expected; });
    const double drain_s = seconds_since(clients_done);

    const long long rows = stored(postgres);
    const long long ids = stored(postgres, "count(DISTINCT event_id)");
    const long long logical =
        stored(postgres, "count(DISTINCT (attributes->>'client') || ':' || (attributes->>'seq'))");
    const long long duplicates = rows - logical;
    const long long c1_served = haproxy.sessions("c1") - c1_before;
    const long long c2_served = haproxy.sessions("c2");
    const long long missing = expected - logical;
    std::cout << "chaos run: " << kClients << " clients x " << kEvents << " events = " << sent << " sent, " << dropped
              << " reported dropped (" << spooled << " spooled, " << reconnects << " client reconnects)\n"
              << "  in the spool when the clients exited: " << left_in_spool << " events\n"
              << "  in PostgreSQL: " << rows << " rows, " << ids << " distinct ids, " << logical
              << " distinct (client, seq); duplicates " << duplicates << ", missing " << missing << "\n"
              << "  faults: agent SIGKILL " << agent_kills << " (restarted " << agent_restarts << ")"
              << ", collector SIGKILL " << collector_kills << " (restarted " << collector_restarts
              << "), PostgreSQL restarts " << postgres_restarts << "\n"
              << "  HAProxy's connections to c1 after its restart " << c1_served << ", to c2 in all " << c2_served
              << "\n"
              << "  drained " << drain_s << " s after the last client exited; whole run " << seconds_since(run_start)
              << " s" << std::endl;

    INFO("--- agent:\n" << tail(agent.log()) << "\n--- c1:\n" << tail(c1.log()) << "\n--- c2:\n" << tail(c2.log()));
    CHECK(drained);
    CHECK(rows == expected);
    CHECK(ids == rows);
    CHECK(duplicates == 0);
    CHECK(missing == 0);
    CHECK(agent.dead_letter_rows() == 0);
    CHECK(c1_served > 0);  // the restarted collector took traffic again
    for (int i = 0; i < kClients; ++i) {
        INFO("client " << i);
        CHECK(stored(postgres, "count(*) FILTER (WHERE attributes->>'client' = '" + std::to_string(i) + "')") ==
              reports[i].tracked - reports[i].dropped);
    }
}
