// The real tk-collector under hostile load and partial failure (label `abuse`): floods with a
// bogus key, slow bodies, idle connections, too few file descriptors, a hung PostgreSQL. Each
// test says what memory and which answers the collector must keep.
#include <catch2/catch.hpp>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

using namespace tk::test;

namespace {

/// The documented bound (docs/collector.md, "Memory"): the collector's peak RSS with the
/// default settings, whatever the requests.
constexpr long kMemoryBoundKiB = 256 * 1024;

/// A field of /proc/PID/status in KiB (VmHWM: peak RSS, VmRSS: now); -1 if unreadable.
long status_kib(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

/// A protobuf Batch body of `bytes` bytes holding nothing but empty events (two bytes each):
/// the cheapest body to send and, parsed naively, the most expensive to hold.
std::string empty_events_body(std::size_t bytes) {
    std::string body;
    body.reserve(bytes);
    while (body.size() + 2 <= bytes) body += std::string("\x0a\x00", 2);
    return body;
}

/// Posts `body` from `count` threads at once; returns the statuses, sorted.
std::multiset<unsigned> post_concurrently(unsigned short port, const std::string& key, const std::string& body,
                                          int count) {
    std::multiset<unsigned> statuses;
    std::mutex mutex;
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
        threads.emplace_back([&] {
            const auto response = post_batch(port, key, body);
            std::lock_guard lock(mutex);
            statuses.insert(response.status);
        });
    }
    for (auto& thread : threads) thread.join();
    return statuses;
}

std::string describe(const std::multiset<unsigned>& statuses) {
    std::map<unsigned, int> counts;
    for (const unsigned status : statuses) ++counts[status];
    std::string text;
    for (const auto& [status, count] : counts) text += std::to_string(status) + "x" + std::to_string(count) + " ";
    return text;
}

}  // namespace

TEST_CASE(
    "a flood of 4 MiB bodies of empty events, with a bogus key and then a valid one, stays under the memory bound") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const std::string body = empty_events_body(4 << 20);
    const pid_t pid = collector.process()->pid();

    // Bogus key: refused without the body being parsed. 401, or 503 once the bodies buffered at
    // once reach their bound.
    const auto bogus = post_concurrently(collector.port(), "tk_bogus-key-bogus-key-bogus-key-bogus-key-bogu", body, 12);
    INFO("bogus key: " << describe(bogus));
    for (const unsigned status : bogus) CHECK((status == 401 || status == 503));
    CHECK(bogus.count(401) >= 1);
    // Valid key: the events are counted from the wire bytes, so 2 million of them are refused
    // (400, too many) without being materialised.
    const auto valid = post_concurrently(collector.port(), key, body, 12);
    INFO("valid key: " << describe(valid));
    for (const unsigned status : valid) CHECK((status == 400 || status == 503));
    CHECK(valid.count(400) >= 1);

    // Still serving.
    const auto fine = post_batch(collector.port(), key, make_batch("my-cli", 10));
    REQUIRE(fine.status == 200);
    CHECK(parse_ack(fine).accepted_size() == 10);

    const long peak_kib = status_kib(pid, "VmHWM");
    std::printf("bogus-key flood: peak RSS (VmHWM) %ld KiB = %.1f MiB, bound %ld MiB\n", peak_kib, peak_kib / 1024.0,
                kMemoryBoundKiB / 1024);
    CHECK(peak_kib > 0);
    CHECK(peak_kib < kMemoryBoundKiB);
}

namespace {

/// A raw connection to the collector, for requests that a well-behaved client would not send.
struct RawConnection {
    explicit RawConnection(unsigned short port) : connection(port) {}
    boost::asio::ip::tcp::socket& socket() { return connection.stream().socket(); }

    bool send(const std::string& bytes) {
        boost::system::error_code ec;
        boost::asio::write(socket(), boost::asio::buffer(bytes), ec);
        return !ec;
    }
    /// Whatever the server sends until it closes or `deadline` passes ("" if nothing).
    std::string read_until_closed(std::chrono::milliseconds deadline) {
        std::string got;
        socket().non_blocking(true);
        const auto until = std::chrono::steady_clock::now() + deadline;
        while (std::chrono::steady_clock::now() < until) {
            char buffer[4096];
            boost::system::error_code ec;
            const std::size_t n = socket().read_some(boost::asio::buffer(buffer), ec);
            if (ec == boost::asio::error::would_block) {
                pollfd fd{socket().native_handle(), POLLIN, 0};
                ::poll(&fd, 1, 50);
                continue;
            }
            got.append(buffer, n);
            if (ec) {
                closed = true;
                break;
            }
        }
        return got;
    }
    HttpConnection connection;
    bool closed = false;
};

std::string batch_headers(const std::string& key, std::size_t content_length) {
    return "POST /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
           "\r\nContent-Type: application/x-protobuf\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
}

unsigned status_of(const std::string& answer) {
    if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12) return 0;
    return static_cast<unsigned>(std::stoi(answer.substr(9, 3)));
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t count = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++count;
    return count;
}

/// User + system CPU time of a process so far, in clock ticks.
long cpu_ticks(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    long utime = 0;
    long stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) utime = std::stol(field);
        if (i == 15) stime = std::stol(field);
    }
    return utime + stime;
}

}  // namespace

TEST_CASE(
    "slow bodies: bodies trickling a byte a second hold at most --max-buffered-bytes and are cut off at "
    "--body-timeout") {
    CollectorFixture collector({"--body-timeout", "3", "--max-buffered-bytes", std::to_string(16 << 20)});
    const std::string key = collector.create_key("my-cli");
    const pid_t pid = collector.process()->pid();

    // Each claims a 4 MiB body: four fit in 16 MiB, the rest are turned away at once.
    std::vector<std::unique_ptr<RawConnection>> slow;
    int turned_away = 0;
    for (int i = 0; i < 8; ++i) {
        auto connection = std::make_unique<RawConnection>(collector.port());
        REQUIRE(connection->send(batch_headers(key, 4 << 20)));
        const std::string answer = connection->read_until_closed(std::chrono::milliseconds(300));
        if (!answer.empty()) {
            CHECK(status_of(answer) == 503);
            CHECK(answer.find("Retry-After: 1") != std::string::npos);
            ++turned_away;
        } else {
            slow.push_back(std::move(connection));
        }
    }
    CHECK(slow.size() == 4);
    CHECK(turned_away == 4);

    // A byte a second on each: all are cut off by the body deadline, not kept alive by the trickle.
    const auto started = std::chrono::steady_clock::now();
    bool all_closed = false;
    while (!all_closed && std::chrono::steady_clock::now() - started < std::chrono::seconds(10)) {
        all_closed = true;
        for (auto& connection : slow) {
            if (connection->closed) continue;
            connection->send("x");
            connection->read_until_closed(std::chrono::milliseconds(1000 / static_cast<int>(slow.size())));
            all_closed = all_closed && connection->closed;
        }
    }
    CHECK(all_closed);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(6));

    // The room is free again.
    CHECK(wait_until([&] { return post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200; }));
    CHECK(status_kib(pid, "VmHWM") < kMemoryBoundKiB);
}

TEST_CASE("many idle connections: beyond --max-connections new ones get 503 and Retry-After, and idle ones time out") {
    CollectorFixture collector({"--max-connections", "20", "--header-timeout", "2"});
    const std::string key = collector.create_key("my-cli");
    const pid_t pid = collector.process()->pid();
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 20; ++i) idle.push_back(std::make_unique<RawConnection>(collector.port()));
    // The collector counts them as they are accepted: wait until the twentieth is in.
    REQUIRE(wait_until([&] {
        RawConnection probe(collector.port());
        const std::string answer = probe.read_until_closed(std::chrono::milliseconds(200));
        return status_of(answer) == 503 && answer.find("Retry-After: 1") != std::string::npos;
    }));
    for (int i = 0; i < 30; ++i) {
        RawConnection extra(collector.port());
        CHECK(status_of(extra.read_until_closed(std::chrono::seconds(2))) == 503);
    }
    // The idle ones are closed after --header-timeout, and then requests are served again.
    for (auto& connection : idle) {
        connection->read_until_closed(std::chrono::seconds(5));
        CHECK(connection->closed);
    }
    CHECK(wait_until([&] { return post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200; }));
    CHECK(status_kib(pid, "VmHWM") < kMemoryBoundKiB);
}

TEST_CASE("fd exhaustion: out of file descriptors, accept backs off quietly and serves again when they are back") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200);  // a pooled connection
    const pid_t pid = collector.process()->pid();
    std::size_t open_fds = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++open_fds;
    const std::string limit = std::to_string(open_fds + 10);
    ProcessOptions prlimit_options;
    prlimit_options.argv = {"/usr/bin/prlimit", "--pid", std::to_string(pid), "--nofile=" + limit + ":" + limit};
    const auto prlimit = run(prlimit_options);
    REQUIRE(prlimit.exit_code == 0);

    // More connections than descriptors left: the rest wait in the listen backlog.
    std::vector<std::unique_ptr<RawConnection>> held;
    for (int i = 0; i < 30; ++i) held.push_back(std::make_unique<RawConnection>(collector.port()));
    REQUIRE(wait_until([&] { return collector.log().find("accept failed") != std::string::npos; }));
    // A two-second window of accept failing: little CPU, and one log line, not thousands.
    const long ticks_before = cpu_ticks(pid);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // a measuring window, not a wait for anything
    const long ticks = cpu_ticks(pid) - ticks_before;
    const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    INFO("CPU ticks in 2 s: " << ticks << " (" << ticks_per_second << "/s)");
    CHECK(ticks < ticks_per_second / 2);
    CHECK(count_of(collector.log(), "accept failed") <= 2);

    held.clear();
    CHECK(wait_until([&] { return post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200; },
                     std::chrono::seconds(15)));
    CHECK(collector.running());
}

namespace {

/// A psql session of its own running `sql` (e.g. holding a lock) until it ends or is terminated.
ChildProcess psql_session(CollectorFixture& collector, const std::string& sql) {
    ProcessOptions options;
    options.argv = {(postgres_bin_dir() / "psql").string(), "-X", "-q", "-d",
                    collector.postgres().conninfo(),        "-c", sql};
    options.stdout_file = "/dev/null";
    options.stderr_file = "/dev/null";
    return ChildProcess(options);
}

void terminate_sessions_running(CollectorFixture& collector, const std::string& marker) {
    collector.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%" + marker +
                    "%' AND pid <> pg_backend_pid()");
}

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

template <class F>
std::pair<HttpResponse, std::chrono::milliseconds> timed(F&& request) {
    const auto started = std::chrono::steady_clock::now();
    HttpResponse response = request();
    return {response,
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)};
}

}  // namespace

TEST_CASE("hung PostgreSQL: a held lock on events gives prompt 503s with Retry-After, bounded memory, then recovery") {
    CollectorFixture collector({"--lock-timeout", "1000", "--request-timeout", "3"});
    const std::string key = collector.create_key("my-cli");
    const pid_t pid = collector.process()->pid();
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200);

    ChildProcess locker = psql_session(
        collector, "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120) /* tk-hold */; COMMIT;");
    REQUIRE(wait_until([&] {
        return collector.query(
                   "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND granted"
                   " AND mode = 'AccessExclusiveLock'") == "1";
    }));
    const std::string body = make_batch("my-cli", 200).SerializeAsString();
    std::vector<std::thread> clients;
    std::mutex mutex;
    std::vector<std::pair<HttpResponse, std::chrono::milliseconds>> answers;
    for (int i = 0; i < 16; ++i) {
        clients.emplace_back([&] {
            auto answer = timed([&] { return post_batch(collector.port(), key, body); });
            std::lock_guard lock(mutex);
            answers.push_back(answer);
        });
    }
    for (auto& client : clients) client.join();
    for (const auto& [response, took] : answers) {
        CHECK(response.status == 503);
        CHECK(!response.header("retry-after").empty());
        CHECK(took < std::chrono::seconds(5));
    }

    terminate_sessions_running(collector, "tk-hold");
    CHECK(wait_until([&] { return post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200; }));
    CHECK(collector.query("SELECT count(*) FROM events") == "10");  // nothing of the refused batches
    CHECK(status_kib(pid, "VmHWM") < kMemoryBoundKiB);
    locker.wait();
}

TEST_CASE(
    "hung PostgreSQL: with every PostgreSQL process stopped, requests get 503 at --request-timeout and ingest "
    "resumes") {
    CollectorFixture collector({"--request-timeout", "2", "--db-connections", "2"});
    const std::string key = collector.create_key("my-cli");
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200);

    std::vector<pid_t> pids;
    for (const auto& line : [&] {
             std::vector<std::string> lines;
             std::istringstream text(collector.query("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"));
             for (std::string line; std::getline(text, line);) lines.push_back(line);
             return lines;
         }()) {
        pids.push_back(static_cast<pid_t>(std::stol(line)));
    }
    std::ifstream postmaster(collector.postgres().socket_dir() / "data" / "postmaster.pid");
    std::string postmaster_pid;
    REQUIRE(std::getline(postmaster, postmaster_pid));
    pids.push_back(static_cast<pid_t>(std::stol(postmaster_pid)));
    struct Resume {
        std::vector<pid_t>& pids;
        ~Resume() {
            for (const pid_t stopped : pids) ::kill(stopped, SIGCONT);
        }
    } resume{pids};
    for (const pid_t running : pids) REQUIRE(::kill(running, SIGSTOP) == 0);

    std::vector<std::thread> clients;
    std::mutex mutex;
    std::vector<std::pair<HttpResponse, std::chrono::milliseconds>> answers;
    for (int i = 0; i < 12; ++i) {
        clients.emplace_back([&] {
            auto answer = timed([&] { return post_batch(collector.port(), key, make_batch("my-cli", 50)); });
            std::lock_guard lock(mutex);
            answers.push_back(answer);
        });
    }
    for (auto& client : clients) client.join();
    for (const auto& [response, took] : answers) {
        CHECK(response.status == 503);
        CHECK(response.header("retry-after") == "2");
        CHECK(took < std::chrono::seconds(4));
    }
    CHECK(status_kib(collector.process()->pid(), "VmHWM") < kMemoryBoundKiB);

    for (const pid_t stopped : pids) ::kill(stopped, SIGCONT);
    CHECK(wait_until([&] { return post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200; },
                     std::chrono::seconds(20)));
}

TEST_CASE("partition DDL cannot stall ingest behind a long analytics query") {
    // The loop below posts as fast as the collector answers for 3 s (on an idle machine more than
    // the per-key limit of 200/s allows): rate limits are other tests' subject.
    CollectorFixture collector({"--rate-limit", "0", "--address-rate-limit", "0"});
    const std::string key = collector.create_key("my-cli");
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 5)).status == 200);
    // An analytics query holding its lock on events (and every partition) for a long time.
    ChildProcess analytics =
        psql_session(collector, "BEGIN; SELECT count(*) FROM events; SELECT pg_sleep(120) /* tk-analytics */; COMMIT;");
    REQUIRE(wait_until([&] {
        return collector.query(
                   "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%tk-analytics%'"
                   " AND state = 'active' AND pid <> pg_backend_pid()") == "1";
    }));

    // A batch from three months ago needs a new partition: its DDL gives up on the lock (503,
    // retried later) instead of queueing every insert behind it.
    Batch old;
    Event event = make_event("my-cli");
    event.set_id(tk::to_bytes(tk::UuidV7Generator().next_at(now_ms() - 95ull * 86'400'000)));
    *old.add_events() = event;
    std::pair<HttpResponse, std::chrono::milliseconds> old_answer;
    std::thread old_client([&] { old_answer = timed([&] { return post_batch(collector.port(), key, old); }); });
    // Meanwhile this month's batches are stored promptly.
    const auto started = std::chrono::steady_clock::now();
    int stored = 0;
    while (std::chrono::steady_clock::now() - started < std::chrono::seconds(3)) {
        const auto [response, took] = timed([&] { return post_batch(collector.port(), key, make_batch("my-cli", 5)); });
        CHECK(response.status == 200);
        CHECK(took < std::chrono::milliseconds(2500));
        ++stored;
    }
    old_client.join();
    CHECK(old_answer.first.status == 503);
    CHECK(old_answer.second < std::chrono::seconds(5));
    CHECK(collector.query("SELECT count(*) FROM events") == std::to_string(5 + 5 * stored));

    terminate_sessions_running(collector, "tk-analytics");
    analytics.wait();
    CHECK(post_batch(collector.port(), key, old).status == 200);
}

namespace {

/// POSTs a batch from a given local address (127.0.0.0/8 is all loopback), so that one test can
/// play several clients.
unsigned post_from(const std::string& local_address, unsigned short port, const std::string& key, const Batch& batch) {
    namespace net = boost::asio;
    net::io_context ioc;
    boost::beast::tcp_stream stream(ioc);
    boost::system::error_code ec;
    stream.socket().open(net::ip::tcp::v4(), ec);
    stream.socket().bind(net::ip::tcp::endpoint(net::ip::make_address(local_address), 0), ec);
    if (ec) return 0;
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return 0;
    http::request<http::string_body> request{http::verb::post, "/v1/batches", 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + key);
    request.set(http::field::content_type, "application/x-protobuf");
    request.body() = batch.SerializeAsString();
    request.prepare_payload();
    http::write(stream, request, ec);
    if (ec) return 0;
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response, ec);
    return ec ? 0 : response.result_int();
}

}  // namespace

TEST_CASE("rate limits: a holder of the public key cannot drain it for users elsewhere, and made-up keys are limited") {
    CollectorFixture collector(
        {"--rate-limit", "0.1", "--rate-burst", "3", "--key-lookup-rate-limit", "0.1", "--key-lookup-rate-burst", "5"});
    const std::string key = collector.create_key("my-cli");
    const Batch batch = make_batch("my-cli", 1);

    // The abuser, at 127.0.0.2, runs through its own allowance for the key...
    std::multiset<unsigned> abuser;
    for (int i = 0; i < 10; ++i) abuser.insert(post_from("127.0.0.2", collector.port(), key, batch));
    INFO("abuser: " << describe(abuser));
    CHECK(abuser.count(429) >= 5);
    // ...and the key still works for a user at 127.0.0.1.
    for (int i = 0; i < 2; ++i) CHECK(post_from("127.0.0.1", collector.port(), key, batch) == 200);

    // Made-up keys from 127.0.0.3: a few are looked up (401), then that address must wait (429),
    // without the database being asked; the user is not affected.
    std::multiset<unsigned> made_up;
    for (int i = 0; i < 20; ++i) {
        made_up.insert(post_from("127.0.0.3", collector.port(), "tk_made-up-" + std::to_string(i), batch));
    }
    INFO("made-up keys: " << describe(made_up));
    CHECK(made_up.count(401) == 5);
    CHECK(made_up.count(429) == 15);
    CHECK(post_from("127.0.0.1", collector.port(), key, batch) == 200);

    // The addresses were only bucket names: not in the log, not in the database.
    const std::string log = collector.log();
    CHECK(log.find("127.0.0.2") == std::string::npos);
    CHECK(log.find("127.0.0.3") == std::string::npos);
    CHECK(collector.query("SELECT count(*) FROM events WHERE attributes::text LIKE '%127.0.0%'") == "0");
}
