// The forwarder against the real collector (tk-collector over a throwaway PostgreSQL), fed by
// an in-memory Outbox. The agent's real store is exercised by the end-to-end tests.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "support/collector_fixture.hpp"
#include "support/process.hpp"
#include "tk/agent/forwarder.hpp"
#include "vector_outbox.hpp"

using namespace std::chrono_literals;
using tk::agent::Destination;
using tk::agent::Forwarder;
using tk::agent::ForwarderOptions;
using tk::test::CollectorFixture;
using tk::test::TempDir;
using tk::test::VectorOutbox;
using tk::test::wait_until;

namespace {

ForwarderOptions quick_options() {
    ForwarderOptions options;
    options.coalesce = 10ms;
    options.initial_backoff = 50ms;
    options.max_backoff = 300ms;
    options.request_timeout = 5s;
    return options;
}

telemetry_kit::v1::DestinationStatus status_of(const Forwarder& forwarder, const std::string& endpoint) {
    for (const auto& s : forwarder.status()) {
        if (s.endpoint() == endpoint) return s;
    }
    return {};
}

/// A TCP port that accepts connections (the kernel completes the handshake) but never answers.
class BlackHole {
public:
    BlackHole() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~BlackHole() { ::close(fd_); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    int fd_ = -1;
    unsigned short port_ = 0;
};

/// The full path of `name` on $PATH (the test process helper does not search PATH).
std::string find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        const auto end = std::min(dirs.find(':', start), dirs.size());
        const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        start = end + 1;
    }
    return "/usr/bin/" + name;
}

/// Voluntary + involuntary context switches of this process's thread named `name`: each time
/// the thread woke up. -1 if there is no such thread.
long long thread_wakeups(const std::string& name) {
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::string comm = tk::test::read_file(task.path() / "comm");
        while (!comm.empty() && comm.back() == '\n') comm.pop_back();
        if (comm != name) continue;
        std::ifstream status(task.path() / "status");
        long long total = 0;
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
                total += std::stoll(line.substr(line.find(':') + 1));
            }
        }
        return total;
    }
    return -1;
}

}  // namespace

TEST_CASE("delivered events are removed from the queue and stored once") {
    CollectorFixture collector;
    TempDir dir;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 25; ++i) outbox.add(destination, "demo");

    auto options = quick_options();
    options.max_batch_events = 10;
    options.sent_log = dir / "sent.log";
    Forwarder forwarder(outbox, options);
    forwarder.start();  // sends what was queued before it started, without a notify

    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(outbox.delivered() == 25);
    CHECK(outbox.dead_letters().empty());
    CHECK(collector.count_events() == 25);
    CHECK(collector.query("SELECT count(DISTINCT event_id) FROM events") == "25");

    const auto status = status_of(forwarder, destination.endpoint);
    CHECK(status.sent() == 25);
    CHECK(status.last_success_unix_ms() > 0);
    CHECK(status.last_attempt_unix_ms() > 0);
    CHECK(status.last_error().empty());
    CHECK(status.next_retry_unix_ms() == 0);
    CHECK(status.DebugString().find(destination.ingest_key) == std::string::npos);

    // The sent log: one line per batch (10 + 10 + 5), never the key.
    const std::string log = tk::test::read_file(dir / "sent.log");
    CHECK(std::count(log.begin(), log.end(), '\n') == 3);
    CHECK(log.find("accepted=10") != std::string::npos);
    CHECK(log.find("accepted=5") != std::string::npos);
    CHECK(log.find("tool=demo") != std::string::npos);
    CHECK(log.find(destination.ingest_key) == std::string::npos);
}

TEST_CASE("a delivered batch the queue fails to delete is sent again, stored once, and then deleted") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 5; ++i) outbox.add(destination, "demo");
    outbox.fail_method("remove_delivered");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();

    REQUIRE(wait_until([&] {
        return status_of(forwarder, destination.endpoint).last_error().find("remove_delivered") != std::string::npos;
    }));
    CHECK(collector.count_events() == 5);
    CHECK(outbox.queued() == 5);  // still queued: the forwarder stopped, it did not resend in a loop
    outbox.fail_method("");
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(outbox.delivered() == 5);
    CHECK(collector.count_events() == 5);  // the second send was answered "duplicate"
    CHECK(outbox.dead_letters().empty());
}

TEST_CASE("events that arrive later are sent soon after notify") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();
    for (int round = 1; round <= 3; ++round) {
        for (int i = 0; i < 4; ++i) outbox.add(destination, "demo");
        forwarder.notify();
        REQUIRE(wait_until([&] { return collector.count_events() == round * 4; }, 5s));
    }
    CHECK(outbox.queued() == 0);
}

TEST_CASE("events the collector rejects go to the dead letters with its reason: the rest are stored") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    outbox.add(destination, "demo", "good");
    const std::string no_name = outbox.add(destination, "demo", "");
    const std::string other_tool = outbox.add(destination, "not-demo", "run");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();

    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    const auto dead = outbox.dead_letters();
    REQUIRE(dead.size() == 2);
    CHECK(dead.at(no_name).rfind("rejected: ", 0) == 0);
    CHECK(dead.at(other_tool).rfind("rejected: ", 0) == 0);
    CHECK(dead.at(no_name) != dead.at(other_tool));
    CHECK(collector.count_events() == 1);
    CHECK(status_of(forwarder, destination.endpoint).sent() == 1);
}

TEST_CASE("a wrong ingest key dead-letters the batch with HTTP 401") {
    CollectorFixture collector;
    VectorOutbox outbox;
    collector.create_key("demo");
    const Destination destination{collector.base_url(), "tk_not_a_real_key"};
    for (int i = 0; i < 3; ++i) outbox.add(destination, "demo");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();

    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    const auto dead = outbox.dead_letters();
    REQUIRE(dead.size() == 3);
    for (const auto& [id, reason] : dead) CHECK(reason.rfind("HTTP 401", 0) == 0);
    CHECK(status_of(forwarder, destination.endpoint).last_error().rfind("HTTP 401", 0) == 0);
    CHECK(collector.count_events() == 0);
    CHECK(collector.log().find("tk_not_a_real_key") == std::string::npos);
}

TEST_CASE("collector down: the queue holds, retries back off, and it drains exactly once when it returns") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    collector.stop();
    for (int i = 0; i < 30; ++i) outbox.add(destination, "demo");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();

    // Several failed attempts, each one scheduling the next; nothing is lost or dead-lettered.
    REQUIRE(wait_until([&] {
        const auto s = status_of(forwarder, destination.endpoint);
        return s.next_retry_unix_ms() > 0 && s.last_error().find("connect") != std::string::npos;
    }));
    CHECK(outbox.queued() == 30);
    CHECK(outbox.dead_letters().empty());

    collector.start();
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(collector.count_events() == 30);
    CHECK(collector.query("SELECT count(DISTINCT event_id) FROM events") == "30");
    REQUIRE(wait_until([&] { return status_of(forwarder, destination.endpoint).last_error().empty(); }));
    CHECK(status_of(forwarder, destination.endpoint).next_retry_unix_ms() == 0);
}

TEST_CASE("a broken destination does not hold back another") {
    CollectorFixture collector;
    BlackHole hung;  // accepts, never answers: each attempt waits for the request timeout
    const unsigned short refused_port = tk::test::free_tcp_port();
    VectorOutbox outbox;
    const Destination good{collector.base_url(), collector.create_key("demo")};
    const Destination hanging{hung.url(), "key-1"};
    const Destination refusing{"http://127.0.0.1:" + std::to_string(refused_port), "key-2"};
    for (int i = 0; i < 5; ++i) {
        outbox.add(hanging, "demo");
        outbox.add(refusing, "demo");
    }
    auto options = quick_options();
    options.request_timeout = 30s;
    Forwarder forwarder(outbox, options);
    forwarder.start();
    REQUIRE(wait_until([&] { return status_of(forwarder, hanging.endpoint).last_attempt_unix_ms() > 0; }));

    // While one request hangs and the other destination keeps failing, events for the good one flow.
    for (int round = 1; round <= 3; ++round) {
        for (int i = 0; i < 5; ++i) outbox.add(good, "demo");
        forwarder.notify();
        REQUIRE(wait_until([&] { return outbox.queued(good) == 0; }, 5s));
    }
    CHECK(collector.count_events() == 15);
    CHECK(outbox.queued(hanging) == 5);
    CHECK(outbox.queued(refusing) == 5);
    CHECK(status_of(forwarder, refusing.endpoint).last_error().find("connect") != std::string::npos);
    CHECK(outbox.dead_letters().empty());
}

TEST_CASE("an endpoint that cannot be parsed dead-letters its events with the reason") {
    VectorOutbox outbox;
    const Destination bad{"ftp://example.com", "key"};
    outbox.add(bad, "demo");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    const auto dead = outbox.dead_letters();
    REQUIRE(dead.size() == 1);
    CHECK(dead.begin()->second.find("unsupported scheme") != std::string::npos);
}

TEST_CASE("TLS: a self-signed collector is trusted with ca_file, refused without it or under another name") {
    TempDir certs;
    const auto cert = certs / "cert.pem";
    const auto key = certs / "key.pem";
    tk::test::ProcessOptions openssl;
    openssl.argv = {find_program("openssl"),
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    key.string(),
                    "-out",
                    cert.string(),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1"};
    const auto made = tk::test::run(openssl);
    REQUIRE(made.exit_code == 0);

    CollectorFixture collector({"--tls-cert", cert.string(), "--tls-key", key.string()});
    REQUIRE(collector.base_url().rfind("https://", 0) == 0);
    const Destination destination{collector.base_url(), collector.create_key("demo")};

    {  // without the CA file the certificate is refused and the events stay queued
        VectorOutbox outbox;
        for (int i = 0; i < 3; ++i) outbox.add(destination, "demo");
        Forwarder forwarder(outbox, quick_options());
        forwarder.start();
        REQUIRE(wait_until([&] { return status_of(forwarder, destination.endpoint).next_retry_unix_ms() > 0; }));
        const auto error = status_of(forwarder, destination.endpoint).last_error();
        CHECK(error.find("TLS handshake") != std::string::npos);
        CHECK(error.find("certificate verify failed") != std::string::npos);
        CHECK(outbox.queued() == 3);
        CHECK(outbox.dead_letters().empty());
    }
    {  // with the CA file the batch is delivered
        VectorOutbox outbox;
        for (int i = 0; i < 3; ++i) outbox.add(destination, "demo");
        auto options = quick_options();
        options.ca_file = cert.string();
        Forwarder forwarder(outbox, options);
        forwarder.start();
        REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
        CHECK(collector.count_events() == 3);
    }
    {  // with the CA file but a name the certificate does not carry, it is refused
        VectorOutbox outbox;
        const Destination by_name{"https://localhost:" + std::to_string(collector.port()), destination.ingest_key};
        outbox.add(by_name, "demo");
        auto options = quick_options();
        options.ca_file = cert.string();
        Forwarder forwarder(outbox, options);
        forwarder.start();
        REQUIRE(wait_until([&] { return status_of(forwarder, by_name.endpoint).next_retry_unix_ms() > 0; }));
        CHECK(status_of(forwarder, by_name.endpoint).last_error().find("TLS handshake") != std::string::npos);
        CHECK(outbox.queued() == 1);
    }
}

TEST_CASE("a collector that says 413 gets smaller batches: a lone oversize event is dead-lettered") {
    CollectorFixture collector({"--max-body-bytes", "3000"});
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 60; ++i) outbox.add(destination, "demo", "event-with-a-name-of-some-length");
    const std::string huge = outbox.add(destination, "demo", std::string(100, 'x') + std::string(3000, 'y'));
    auto options = quick_options();
    options.max_batch_events = 60;
    options.max_in_flight = 1;
    Forwarder forwarder(outbox, options);
    forwarder.start();
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(collector.count_events() == 60);
    const auto dead = outbox.dead_letters();
    REQUIRE(dead.size() == 1);
    CHECK(dead.begin()->first == huge);
    CHECK(dead.begin()->second.rfind("HTTP 413", 0) == 0);
}

TEST_CASE("429 with Retry-After: the forwarder waits as long as the collector asks") {
    CollectorFixture collector({"--rate-limit", "1", "--rate-burst", "1"});
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 6; ++i) outbox.add(destination, "demo");
    auto options = quick_options();
    options.max_batch_events = 3;
    options.max_in_flight = 1;
    options.max_backoff = 10s;  // above the collector's Retry-After, which the jitter (<= 50 ms first) is not
    Forwarder forwarder(outbox, options);
    forwarder.start();
    telemetry_kit::v1::DestinationStatus limited;
    REQUIRE(wait_until([&] {
        limited = status_of(forwarder, destination.endpoint);
        return limited.next_retry_unix_ms() > 0 && limited.last_error().rfind("HTTP 429", 0) == 0;
    }));
    CHECK(limited.next_retry_unix_ms() - limited.last_attempt_unix_ms() >= 900);
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(collector.count_events() == 6);
}

TEST_CASE("erasure: the collector deletes the old id's rows: retried while it is down") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 4; ++i) outbox.add(destination, "demo", "run", "old-id");
    for (int i = 0; i < 2; ++i) outbox.add(destination, "demo", "run", "other-id");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();
    REQUIRE(wait_until([&] { return collector.count_events() == 6; }));

    collector.stop();
    outbox.add_erasure(destination, "old-id");
    forwarder.notify();
    REQUIRE(
        wait_until([&] { return status_of(forwarder, destination.endpoint).last_error().rfind("erasure", 0) == 0; }));
    CHECK(outbox.erasures_pending() == 1);

    collector.start();
    REQUIRE(wait_until([&] { return outbox.erasures_pending() == 0; }));
    CHECK(collector.count_events("anonymous_id = 'old-id'") == 0);
    CHECK(collector.count_events("anonymous_id = 'other-id'") == 2);
}

TEST_CASE("an idle forwarder does not wake up, nor while it waits out a backoff") {
    VectorOutbox outbox;
    const unsigned short refused_port = tk::test::free_tcp_port();
    auto options = quick_options();
    options.initial_backoff = 60s;  // first retry somewhere in [0, 60 s]: ~1% chance inside the window
    options.max_backoff = 60s;
    Forwarder forwarder(outbox, options);
    forwarder.start();
    REQUIRE(wait_until([&] { return outbox.calls >= 2; }));  // the start-up pass has run
    REQUIRE(wait_until([&] { return thread_wakeups("tk-forwarder") >= 0; }));

    auto quiet_for = [&](std::chrono::milliseconds window) {
        // First let the thread finish what it was doing and block (blocking itself is a switch).
        long long last = -2;
        wait_until(
            [&] {
                const long long now = thread_wakeups("tk-forwarder");
                const bool settled = now == last;
                last = now;
                return settled;
            },
            5s);
        const int calls = outbox.calls;
        const long long before = thread_wakeups("tk-forwarder");
        std::this_thread::sleep_for(window);  // observation window, not synchronisation
        return outbox.calls == calls && thread_wakeups("tk-forwarder") == before;
    };
    CHECK(quiet_for(500ms));

    // Now a destination that refuses connections: one attempt, then a long backoff.
    const Destination refusing{"http://127.0.0.1:" + std::to_string(refused_port), "key"};
    outbox.add(refusing, "demo");
    forwarder.notify();
    REQUIRE(wait_until([&] { return status_of(forwarder, refusing.endpoint).next_retry_unix_ms() > 0; }));
    const auto retry_at = status_of(forwarder, refusing.endpoint).next_retry_unix_ms();
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    if (retry_at - now_ms > 700) CHECK(quiet_for(500ms));  // the rare short draw cannot be watched
}

TEST_CASE("the sent log is bounded") {
    CollectorFixture collector;
    TempDir dir;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 40; ++i) outbox.add(destination, "demo");
    auto options = quick_options();
    options.max_batch_events = 2;
    options.sent_log = dir / "sent.log";
    options.sent_log_max_bytes = 600;
    Forwarder forwarder(outbox, options);
    forwarder.start();
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    forwarder.stop();
    CHECK(std::filesystem::exists(dir / "sent.log.1"));
    CHECK(std::filesystem::file_size(dir / "sent.log") <= 600);
    CHECK(std::filesystem::file_size(dir / "sent.log.1") <= 600);
}

TEST_CASE("an erasure the collector refuses is kept with its reason, and the batches behind it are delivered") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    outbox.add_erasure(destination, "not/an/id");  // the collector answers 400: malformed anonymous id
    for (int i = 0; i < 5; ++i) outbox.add(destination, "demo");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();

    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(collector.count_events() == 5);
    CHECK(outbox.erasures_pending() == 0);
    const auto refused = outbox.refused_erasures();
    REQUIRE(refused.size() == 1);
    CHECK(refused.at("not/an/id").rfind("erasure refused: HTTP 400: malformed anonymous id", 0) == 0);
    CHECK(outbox.dead_letters().empty());
}

TEST_CASE("a 404 on erasure is not success: the data is still there, the request is kept as refused") {
    CollectorFixture collector;
    VectorOutbox outbox;
    const Destination destination{collector.base_url(), collector.create_key("demo")};
    for (int i = 0; i < 3; ++i) outbox.add(destination, "demo", "run", "old-id");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();
    REQUIRE(wait_until([&] { return collector.count_events() == 3; }));

    // The same collector under a base path it does not serve: its router answers 404 "not found".
    const Destination misrouted{collector.base_url() + "/no-such-prefix", destination.ingest_key};
    outbox.add_erasure(misrouted, "old-id");
    forwarder.notify();
    REQUIRE(wait_until([&] { return outbox.erasures_pending() == 0; }));
    const auto refused = outbox.refused_erasures();
    REQUIRE(refused.size() == 1);
    CHECK(refused.at("old-id").rfind("erasure refused: HTTP 404", 0) == 0);
    CHECK(collector.count_events("anonymous_id = 'old-id'") == 3);
    CHECK(status_of(forwarder, misrouted.endpoint).last_error().rfind("erasure refused: HTTP 404", 0) == 0);
}
