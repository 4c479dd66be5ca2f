// The spool against the real agent: records with checksums, torn and corrupt ones skipped, a
// running agent importing new records within seconds, no record lost to an append racing the
// agent's rename, and a burst with the agent up ending with every event in the agent's queue.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "agent_support.hpp"
#include "spool.hpp"
#include "telemetry_kit/client.hpp"
#include "tk/common/spool_format.hpp"
#include "tk/common/uuid.hpp"

using namespace tk::test;
using namespace std::chrono_literals;
namespace v1 = telemetry_kit::v1;

namespace {

v1::SpoolRecord spool_record(const std::string& tool, const std::string& name) {
    v1::SpoolRecord record;
    record.mutable_tool()->set_tool(tool);
    record.mutable_tool()->set_version("1.0");
    auto* event = record.mutable_event();
    event->set_id(tk::to_bytes(tk::uuid_v7()));
    event->set_kind(v1::EVENT_KIND_FEATURE);
    event->set_name(name);
    event->set_timestamp_unix_ms(1'700'000'000'000);
    return record;
}

/// Puts `bytes` in place as the spool at once (a rename, as a client's close would signal).
void place_spool(const ClientHome& env, const std::string& bytes) {
    const fs::path temp = env.home / "spool.test";
    {
        std::ofstream out(temp, std::ios::binary);
        out << bytes;
    }
    fs::permissions(temp, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    fs::rename(temp, env.spool());
}

std::set<std::string> ids_of(const std::vector<v1::Event>& events) {
    std::set<std::string> ids;
    for (const auto& event : events) ids.insert(event.id());
    return ids;
}

}  // namespace

TEST_CASE("torn and corrupt records in the middle of a spool are skipped, the rest imported by the running agent") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("spooler");
    ControlConnection control(env.socket);  // held: the import must not wait for a new connection

    std::string bytes;
    std::set<std::string> expected;
    auto add = [&](const std::string& name) {
        const auto record = spool_record("spooler", name);
        expected.insert(record.event().id());
        tk::spool::append_record(bytes, record.SerializeAsString());
    };
    for (int i = 0; i < 5; ++i) add("before");
    std::string torn;  // a writer killed half way through its write()
    tk::spool::append_record(torn, spool_record("spooler", "torn").SerializeAsString());
    bytes += torn.substr(0, torn.size() / 2);
    for (int i = 0; i < 5; ++i) add("between");
    std::string corrupt;  // a flipped bit in the payload
    tk::spool::append_record(corrupt, spool_record("spooler", "corrupt").SerializeAsString());
    corrupt[corrupt.size() - 3] ^= 0x04;
    bytes += corrupt;
    for (int i = 0; i < 5; ++i) add("after");
    place_spool(env, bytes);

    std::vector<v1::Event> events;
    REQUIRE(wait_until([&] { return (events = control.events("spooler")).size() >= expected.size(); }, 10s));
    CHECK(ids_of(events) == expected);
    REQUIRE(wait_until([&] { return !fs::exists(env.spool()) && !fs::exists(env.home / "spool.importing"); }, 10s));

    v1::ControlRequest request;
    request.mutable_status();
    const auto status = control.call(request).status();
    CHECK(status.spool().damaged_spans() == 2);
    CHECK(status.spool().damaged_bytes() == torn.size() / 2 + corrupt.size());
    CHECK(status.spool().imported_records() == expected.size());
    CHECK(agent.log().find("torn or corrupt") != std::string::npos);

    ProcessOptions tk_status;
    tk_status.argv = {binary("tk").string(), "status"};
    const auto shown = run(tk_status);
    CHECK(shown.exit_code == 0);
    CHECK(shown.out.find("spool: torn or corrupt — 2 damaged stretch(es)") != std::string::npos);
}

TEST_CASE("a client appending while the agent renames the spool loses nothing") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("racer");
    ControlConnection control(env.socket);

    // Writers append one record at a time, as fast as they can, while the agent takes the file
    // again and again (each close() wakes it): without the lock protocol, a record written to a
    // file the agent has already read and is about to delete is lost.
    constexpr int kWriters = 4;
    constexpr int kRecords = 3000;
    std::vector<std::set<std::string>> written(kWriters);
    std::atomic<std::size_t> failed{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
            const auto prefix = spool_record("racer", "x");
            v1::SpoolRecord shared;
            *shared.mutable_tool() = prefix.tool();
            const std::string prefix_bytes = shared.SerializeAsString();
            telemetry_kit::detail::SpoolWriter writer(env.home, prefix_bytes);
            for (int i = 0; i < kRecords; ++i) {
                const auto record = spool_record("racer", "race");
                std::deque<std::string> one{record.event().SerializeAsString()};
                if (writer.append(one).spooled != 1) ++failed;
                written[w].insert(record.event().id());
            }
        });
    }
    for (auto& thread : writers) thread.join();
    REQUIRE(failed == 0);
    std::set<std::string> expected;
    for (const auto& ids : written) expected.insert(ids.begin(), ids.end());
    REQUIRE(expected.size() == kWriters * kRecords);

    std::vector<v1::Event> events;
    const bool all = wait_until([&] { return (events = control.events("racer")).size() >= expected.size(); }, 20s);
    const auto stored = ids_of(events);
    std::size_t missing = 0;
    for (const auto& id : expected) missing += stored.count(id) == 0 ? 1 : 0;
    INFO("stored " << stored.size() << " of " << expected.size() << ", missing " << missing);
    CHECK(all);
    CHECK(missing == 0);
    CHECK(stored.size() == expected.size());
}

TEST_CASE("a spool lock held by a stopped process neither hangs a client nor loses its record") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("locked");
    ControlConnection control(env.socket);
    const auto prefix_record = spool_record("locked", "x");
    v1::SpoolRecord shared;
    *shared.mutable_tool() = prefix_record.tool();
    telemetry_kit::detail::SpoolWriter writer(env.home, shared.SerializeAsString());

    // Stand in for a writer stopped (SIGSTOP) in the middle of its append: hold the lock of the
    // spool (empty, so the agent has nothing to take yet).
    const int holder = ::open(env.spool().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(holder >= 0);
    REQUIRE(::flock(holder, LOCK_EX) == 0);

    const auto record = spool_record("locked", "while locked");
    std::deque<std::string> one{record.event().SerializeAsString()};
    const auto started = std::chrono::steady_clock::now();
    CHECK(writer.append(one).spooled == 1);  // after the bounded wait, written without the lock
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= telemetry_kit::detail::SpoolWriter::kLockWait);
    CHECK(waited < 5s);
    // The agent cannot take the file while the lock is held (it never waits for it), so the
    // record written without the lock is still in the spool, not in a file already read.
    CHECK(control.events("locked").empty());
    CHECK(fs::exists(env.spool()));

    ::close(holder);  // the stopped process goes away
    std::vector<v1::Event> events;
    REQUIRE(wait_until([&] { return !(events = control.events("locked")).empty(); }, 10s));
    CHECK(events.size() == 1);
    CHECK(ids_of(events).count(record.event().id()) == 1);
}

// Each process records fewer events than its queue holds (Limits::max_pending_events, 8,192), so
// none may be dropped whatever the scheduler does: with 10,000 a process whose I/O thread got no
// CPU during its tight loop (ctest -j2 on 2 cores) overflowed the queue and dropped 1,512. A burst
// past the bound is the subject of the full-queue tests.
TEST_CASE("4 processes x 8,000 events with the agent up: every event reaches the agent's queue") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("burst");
    ControlConnection control(env.socket);  // held: no new connection may be what triggers an import

    constexpr int kProcesses = 4;
    constexpr int kEvents = 8'000;
    std::vector<std::unique_ptr<ChildProcess>> clients;
    for (int p = 0; p < kProcesses; ++p) {
        ProcessOptions options;
        options.argv = {TK_BURST_CLIENT, "burst", std::to_string(p), std::to_string(kEvents)};
        options.stdout_file = env.dir / ("burst-" + std::to_string(p) + ".out");
        clients.push_back(std::make_unique<ChildProcess>(options));
    }
    long long spooled = 0, dropped = 0, delivered = 0;
    for (int p = 0; p < kProcesses; ++p) {
        const auto code = clients[p]->wait(120s);
        REQUIRE(code.has_value());
        const std::string out = read_file(env.dir / ("burst-" + std::to_string(p) + ".out"));
        std::smatch match;
        REQUIRE(std::regex_search(out, match, std::regex(R"(delivered=(\d+) spooled=(\d+) dropped=(\d+) flushed=1)")));
        delivered += std::stoll(match[1]);
        spooled += std::stoll(match[2]);
        dropped += std::stoll(match[3]);
    }
    std::cout << "burst: " << delivered << " delivered, " << spooled << " spooled, " << dropped << " dropped\n";
    REQUIRE(dropped == 0);
    REQUIRE(delivered + spooled == kProcesses * kEvents);

    const auto start = std::chrono::steady_clock::now();
    std::vector<v1::Event> events;
    const bool all = wait_until(
        [&] { return (events = control.events("burst")).size() >= static_cast<std::size_t>(kProcesses * kEvents); },
        10s);
    std::cout << "burst: " << events.size() << " of " << kProcesses * kEvents << " queued, "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
              << " ms after the last client exited\n";
    CHECK(all);
    CHECK(events.size() == static_cast<std::size_t>(kProcesses * kEvents));
    CHECK(ids_of(events).size() == static_cast<std::size_t>(kProcesses * kEvents));
    std::set<std::pair<std::int64_t, std::int64_t>> pairs;
    for (const auto& event : events) {
        pairs.emplace(event.attributes().at("p").int_value(), event.attributes().at("i").int_value());
    }
    CHECK(pairs.size() == static_cast<std::size_t>(kProcesses * kEvents));
}

TEST_CASE("a live agent is waited for: a burst past the spool's high-water mark is delivered, not spooled") {
    ClientHome env;
    AgentUnderTest agent(env);
    agent.grant("waiter");
    // 8,000 events at once: past the high-water mark (2,048) but short of the queue's bound
    // (8,192) even if the I/O thread takes none of them during the loop (with 9,000 a starved I/O
    // thread let 52 be dropped on an idle CI run). The agent keeps acknowledging, so the client
    // waits for it instead of spilling to the spool.
    constexpr int kEvents = 8000;
    telemetry_kit::Stats stats;
    {
        telemetry_kit::Client client(telemetry_kit::Config{"waiter", "1.0"});
        for (int i = 0; i < kEvents; ++i) client.track_feature("burst", {{"i", i}});
        REQUIRE(client.flush(30s));
        stats = client.stats();
    }
    CHECK(stats.dropped == 0);
    CHECK(stats.spooled == 0);
    CHECK(stats.delivered == kEvents);
    CHECK(agent.events("waiter").size() == static_cast<std::size_t>(kEvents));
}
