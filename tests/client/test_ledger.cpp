// The client's send/ack ledger (client/src/ledger.hpp) without a socket: what goes out, which
// Flush covers it, what a FlushAck delivers, what a broken connection re-sends and what is left to
// spool at exit. The clock is a value the test moves; the bytes are decoded with the generated
// protobuf classes (the .proto files are the contract).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ledger.hpp"
#include "telemetry_kit/v1/agent.pb.h"
#include "tk/common/framing.hpp"

namespace v1 = telemetry_kit::v1;
using telemetry_kit::detail::SendLedger;
using namespace std::chrono_literals;

namespace {

using Time = SendLedger::clock::time_point;
const Time t0{std::chrono::seconds(1000)};

/// A serialized Event named `name` (the ledger does not look inside; the decoder below does).
std::string event(const std::string& name) {
    v1::Event e;
    e.set_name(name);
    return e.SerializeAsString();
}

/// What a run of send() wrote, frame by frame: an event's name, or "flush <request id>".
std::vector<std::string> frames_of(const std::string& bytes) {
    tk::framing::FrameDecoder decoder;
    decoder.feed(bytes);
    std::vector<std::string> frames;
    std::string_view payload;
    while (decoder.next(payload) == tk::framing::FrameDecoder::Status::frame) {
        v1::ClientFrame frame;
        REQUIRE(frame.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
        if (frame.has_event()) {
            frames.push_back(frame.event().name());
        } else {
            REQUIRE(frame.has_flush());
            frames.push_back("flush " + std::to_string(frame.flush().request_id()));
        }
    }
    REQUIRE(decoder.buffered() == 0);
    return frames;
}

std::vector<std::string> names_of(const std::deque<std::string>& events) {
    std::vector<std::string> names;
    for (const std::string& bytes : events) {
        v1::Event e;
        REQUIRE(e.ParseFromString(bytes));
        names.push_back(e.name());
    }
    return names;
}

SendLedger::Policy policy(std::size_t every_events = 3) {
    SendLedger::Policy p;
    p.flush_every_events = every_events;
    p.flush_every = 100ms;
    p.stall_after = 500ms;
    return p;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("send writes the backlog in order, a FlushAck delivers what its Flush covers", "[ledger]") {
    SendLedger ledger(policy(100));
    ledger.connected();
    for (const char* name : {"a", "b"}) ledger.enqueue(event(name));
    CHECK(ledger.held_events() == 2);
    CHECK(ledger.held_bytes() == event("a").size() + event("b").size());

    std::string out;
    const auto sent = ledger.send(out, t0, /*flush_now=*/true);
    CHECK(sent.events == 2);
    REQUIRE(sent.flush);
    CHECK(*sent.flush == 2);
    CHECK(frames_of(out) == Names{"a", "b", "flush 2"});
    CHECK(ledger.backlog_empty());
    CHECK(ledger.in_flight() == 2);
    CHECK(ledger.held_events() == 2);  // in flight still counts against the bound

    CHECK(ledger.acknowledge(1, t0 + 1ms) == 1);  // an ack below the Flush's id covers only that far
    CHECK(ledger.in_flight() == 1);
    CHECK(ledger.acknowledge(2, t0 + 2ms) == 1);
    CHECK(ledger.in_flight() == 0);
    CHECK(ledger.held_bytes() == 0);
    CHECK(ledger.acknowledge(2, t0 + 3ms) == 0);  // a repeated ack delivers nothing twice
}

TEST_CASE("a Flush is due by count or by age, not before", "[ledger]") {
    SendLedger ledger(policy(3));
    ledger.connected();
    std::string out;
    ledger.enqueue(event("a"));
    ledger.enqueue(event("b"));
    auto sent = ledger.send(out, t0, false);
    CHECK(sent.events == 2);
    CHECK_FALSE(sent.flush);  // two uncovered sends, fresh: no Flush yet
    REQUIRE(ledger.flush_due_at());
    CHECK(*ledger.flush_due_at() == t0 + 100ms);

    ledger.enqueue(event("c"));  // the third: flush_every_events reached
    sent = ledger.send(out, t0 + 10ms, false);
    REQUIRE(sent.flush);
    CHECK(*sent.flush == 3);
    CHECK_FALSE(ledger.flush_due_at());

    ledger.enqueue(event("d"));
    out.clear();
    CHECK_FALSE(ledger.send(out, t0 + 20ms, false).flush);
    CHECK_FALSE(ledger.send(out, t0 + 119ms, false).flush);  // 99 ms after "d" was sent
    sent = ledger.send(out, t0 + 120ms, false);              // flush_every after "d"
    CHECK(sent.events == 0);
    REQUIRE(sent.flush);
    CHECK(*sent.flush == 4);
    CHECK(frames_of(out) == Names{"d", "flush 4"});

    // Nothing new since the last Flush: even a requested flush writes nothing.
    out.clear();
    CHECK_FALSE(ledger.send(out, t0 + 130ms, true).flush);
    CHECK(out.empty());
}

TEST_CASE("an unanswered Flush makes the agent stalled after stall_after", "[ledger]") {
    SendLedger ledger(policy());
    ledger.connected();
    std::string out;
    CHECK_FALSE(ledger.stall_at());
    ledger.enqueue(event("a"));
    ledger.send(out, t0, true);  // Flush 1
    REQUIRE(ledger.stall_at());
    CHECK(*ledger.stall_at() == t0 + 500ms);
    CHECK_FALSE(ledger.stalled(t0 + 500ms));
    CHECK(ledger.stalled(t0 + 501ms));

    ledger.enqueue(event("b"));
    ledger.send(out, t0 + 100ms, true);  // Flush 2; the wait still counts from Flush 1
    CHECK(*ledger.stall_at() == t0 + 500ms);
    CHECK(ledger.acknowledge(1, t0 + 400ms) == 1);
    // Flush 2 is unanswered: its wait starts at the ack of Flush 1.
    CHECK(*ledger.stall_at() == t0 + 900ms);
    CHECK_FALSE(ledger.stalled(t0 + 800ms));
    CHECK(ledger.stalled(t0 + 901ms));
    CHECK(ledger.acknowledge(2, t0 + 950ms) == 1);
    CHECK_FALSE(ledger.stall_at());
    CHECK_FALSE(ledger.stalled(t0 + 10s));
}

TEST_CASE("a lost connection re-sends what was in flight, in order, before the backlog", "[ledger]") {
    SendLedger ledger(policy(100));
    ledger.connected();
    std::string out;
    for (const char* name : {"a", "b", "c"}) ledger.enqueue(event(name));
    ledger.send(out, t0, true);             // a b c, Flush 3
    CHECK(ledger.acknowledge(1, t0) == 1);  // a delivered
    ledger.enqueue(event("d"));             // not sent yet
    CHECK_FALSE(ledger.connection_lost());  // first loss: try again
    CHECK(ledger.in_flight() == 0);
    CHECK(ledger.held_events() == 3);
    CHECK(ledger.held_bytes() == 3 * event("b").size());

    ledger.connected();
    out.clear();
    const auto sent = ledger.send(out, t0 + 1s, true);
    CHECK(sent.events == 3);
    // Sequence numbers go on from the last connection's; the new Flush covers the re-sent ones.
    CHECK(frames_of(out) == Names{"b", "c", "d", "flush 6"});
    CHECK(ledger.acknowledge(6, t0 + 1s) == 3);
    CHECK(ledger.held_events() == 0);
}

TEST_CASE("an agent that keeps breaking the connection without an ack is given up on", "[ledger]") {
    SendLedger ledger(policy());
    std::string out;
    ledger.enqueue(event("a"));
    for (std::uint32_t loss = 1; loss < SendLedger::kMaxLossesWithoutProgress; ++loss) {
        ledger.connected();
        ledger.send(out, t0, true);
        CHECK_FALSE(ledger.connection_lost());
    }
    ledger.connected();
    ledger.send(out, t0, true);
    CHECK(ledger.connection_lost());  // the third in a row

    // An ack in between is progress: the count starts again.
    ledger.connected();
    const auto sent = ledger.send(out, t0, true);
    REQUIRE(sent.flush);
    CHECK(ledger.acknowledge(*sent.flush, t0) == 1);
    ledger.enqueue(event("b"));
    ledger.send(out, t0, true);
    CHECK_FALSE(ledger.connection_lost());
}

TEST_CASE("at exit every unacknowledged event is handed over for the spool, oldest first", "[ledger]") {
    SendLedger ledger(policy(100));
    ledger.connected();
    std::string out;
    for (const char* name : {"a", "b", "c"}) ledger.enqueue(event(name));
    ledger.send(out, t0, true);
    CHECK(ledger.acknowledge(1, t0) == 1);
    ledger.enqueue(event("d"));
    ledger.enqueue(event("e"));

    CHECK(names_of(ledger.take_unacknowledged()) == Names{"b", "c", "d", "e"});
    CHECK(ledger.held_events() == 0);
    CHECK(ledger.held_bytes() == 0);
    CHECK(ledger.in_flight() == 0);
    CHECK(ledger.take_unacknowledged().empty());
}

TEST_CASE("without a connection the backlog is taken whole, clear() starts afresh", "[ledger]") {
    SendLedger ledger(policy());
    ledger.enqueue(event("a"));
    ledger.enqueue(event("b"));
    CHECK(names_of(ledger.take_backlog()) == Names{"a", "b"});
    CHECK(ledger.backlog_empty());
    CHECK(ledger.held_bytes() == 0);

    ledger.connected();
    std::string out;
    ledger.enqueue(event("c"));
    ledger.send(out, t0, true);
    ledger.clear();
    CHECK(ledger.held_events() == 0);
    CHECK_FALSE(ledger.stall_at());
    ledger.connected();
    out.clear();
    ledger.enqueue(event("x"));
    ledger.send(out, t0, true);
    CHECK(frames_of(out) == Names{"x", "flush 1"});  // sequence numbers start again at 1
}
