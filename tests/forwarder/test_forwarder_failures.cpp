// The forwarder when its local queue fails (a full disk, a locked or corrupt database): an
// in-memory Outbox that fails the Nth call, or every call of one method. No collector is needed:
// the destinations here cannot be reached or cannot even be parsed, which drives the forwarder
// through every Outbox method without a network.
#include <catch2/catch.hpp>
#include <future>
#include <memory>
#include <thread>

#include "support/process.hpp"
#include "tk/agent/forwarder.hpp"
#include "vector_outbox.hpp"

using namespace std::chrono_literals;
using tk::agent::Destination;
using tk::agent::Forwarder;
using tk::agent::ForwarderOptions;
using tk::test::VectorOutbox;
using tk::test::wait_until;

namespace {

ForwarderOptions quick_options() {
    ForwarderOptions options;
    options.coalesce = 10ms;
    options.initial_backoff = 20ms;
    options.max_backoff = 100ms;
    options.request_timeout = 2s;
    return options;
}

/// An endpoint the URL parser refuses: the forwarder dead-letters its events and drops its
/// erasures without opening a connection (next_batch, dead_letter, erasure_refused, ...).
const Destination kUnparsable{"ftp://example.com", "key"};

telemetry_kit::v1::DestinationStatus status_of(const Forwarder& forwarder, const std::string& endpoint) {
    for (const auto& s : forwarder.status()) {
        if (s.endpoint() == endpoint) return s;
    }
    return {};
}

/// Forwarder::has_work's answer (what the agent's idle exit asks), within a deadline.
bool has_work(Forwarder& forwarder) {
    auto answer = std::make_shared<std::promise<bool>>();
    auto future = answer->get_future();
    forwarder.has_work([answer](bool work) { answer->set_value(work); });
    REQUIRE(future.wait_for(5s) == std::future_status::ready);
    return future.get();
}

}  // namespace

TEST_CASE("a queue that cannot be read is not an empty queue: no idle exit, the error is shown, it looks again") {
    VectorOutbox outbox;
    outbox.add(kUnparsable, "demo");
    outbox.fail_method("pending_destinations");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();

    REQUIRE(wait_until([&] { return outbox.failures >= 2; }));  // the first look failed, and it looked again
    CHECK(forwarder.local_error().find("pending_destinations") != std::string::npos);
    CHECK(has_work(forwarder));  // the agent must not exit: events may be queued
    CHECK(outbox.queued() == 1);
    CHECK(outbox.dead_letters().empty());

    outbox.fail_method("");  // the disk has room again
    REQUIRE(wait_until([&] { return outbox.queued() == 0; }));
    CHECK(outbox.dead_letters().size() == 1);
    REQUIRE(wait_until([&] { return forwarder.local_error().empty(); }));
    CHECK_FALSE(has_work(forwarder));
}

TEST_CASE("a dead-letter write that keeps failing backs off instead of spinning") {
    VectorOutbox outbox;
    for (int i = 0; i < 3; ++i) outbox.add(kUnparsable, "demo");
    outbox.fail_method("dead_letter");
    auto options = quick_options();
    options.initial_backoff = 60s;  // the first retry is drawn from [0, 60 s]
    options.max_backoff = 60s;
    Forwarder forwarder(outbox, options);
    forwarder.start();

    REQUIRE(wait_until([&] { return status_of(forwarder, kUnparsable.endpoint).next_retry_unix_ms() > 0; }));
    const auto status = status_of(forwarder, kUnparsable.endpoint);
    CHECK(status.last_error().find("dead_letter") != std::string::npos);
    CHECK(outbox.failures == 1);  // stopped at the first failure
    CHECK(outbox.queued() == 3);  // nothing lost
    CHECK(has_work(forwarder));
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    if (status.next_retry_unix_ms() - now_ms > 500) {  // the rare short draw cannot be watched
        const int calls = outbox.calls;
        std::this_thread::sleep_for(300ms);  // observation window, not synchronisation
        CHECK(outbox.calls == calls);
        CHECK(outbox.failures == 1);
    }
}

TEST_CASE("whichever call fails, the forwarder backs off, says why, and finishes the work afterwards") {
    // Three events (one per batch) and an erasure for a destination that cannot be parsed: about
    // eight Outbox calls in all. Failing each one in turn visits every error path.
    for (int n = 1; n <= 10; ++n) {
        CAPTURE(n);
        VectorOutbox outbox;
        for (int i = 0; i < 3; ++i) outbox.add(kUnparsable, "demo");
        outbox.add_erasure(kUnparsable, "old-id");
        outbox.fail_call(n);
        auto options = quick_options();
        options.max_batch_events = 1;
        Forwarder forwarder(outbox, options);
        forwarder.start();

        REQUIRE(wait_until([&] { return outbox.queued() == 0 && outbox.erasures_pending() == 0; }));
        CHECK(outbox.dead_letters().size() == 3);
        CHECK(outbox.refused_erasures().size() == 1);
        CHECK(outbox.failures <= 1);
        REQUIRE(wait_until([&] { return !has_work(forwarder); }));
        CHECK(forwarder.local_error().empty());
    }
}

TEST_CASE("an unreachable destination whose queue then fails keeps its events and says why") {
    VectorOutbox outbox;
    const Destination refusing{"http://127.0.0.1:" + std::to_string(tk::test::free_tcp_port()), "key"};
    for (int i = 0; i < 3; ++i) outbox.add(refusing, "demo");
    Forwarder forwarder(outbox, quick_options());
    forwarder.start();
    REQUIRE(wait_until(
        [&] { return status_of(forwarder, refusing.endpoint).last_error().find("connect") != std::string::npos; }));
    outbox.fail_method("next_batch");
    REQUIRE(wait_until(
        [&] { return status_of(forwarder, refusing.endpoint).last_error().find("next_batch") != std::string::npos; }));
    CHECK(outbox.queued() == 3);
    CHECK(outbox.dead_letters().empty());
    CHECK(has_work(forwarder));
    outbox.fail_method("");
    REQUIRE(wait_until(
        [&] { return status_of(forwarder, refusing.endpoint).last_error().find("connect") != std::string::npos; }));
    CHECK(outbox.queued() == 3);
}
