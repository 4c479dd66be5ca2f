// The Batch body made from already-serialized events, and reading a BatchAck against it.
#include <catch2/catch.hpp>

#include "telemetry_kit/v1/collector.pb.h"
#include "tk/agent/forwarder_wire.hpp"

using tk::agent::OutgoingEvent;
namespace wire = tk::agent::wire;

namespace {
OutgoingEvent make_event(char id_byte, std::size_t name_size) {
    telemetry_kit::v1::Event e;
    e.set_id(std::string(16, id_byte));
    e.set_tool("demo");
    e.set_name(std::string(name_size, 'n'));
    return {e.id(), e.SerializeAsString()};
}
}  // namespace

TEST_CASE("encode_batch makes a Batch that protobuf reads back event for event") {
    // Sizes around the varint boundaries (127/128, 16383/16384) of the length prefix.
    std::vector<OutgoingEvent> events = {make_event(1, 0), make_event(2, 100), make_event(3, 200), make_event(4, 16370),
                                         make_event(5, 20000)};
    const std::string body = wire::encode_batch(events);
    telemetry_kit::v1::Batch batch;
    REQUIRE(batch.ParseFromString(body));
    REQUIRE(batch.events_size() == 5);
    std::size_t expected_size = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        CHECK(batch.events(static_cast<int>(i)).SerializeAsString() == events[i].event);
        expected_size += events[i].event.size() + wire::framing_overhead(events[i].event.size());
    }
    CHECK(body.size() == expected_size);
    CHECK(wire::encode_batch({}).empty());
}

TEST_CASE("read_ack sorts the ack and ignores ids that were not sent") {
    std::vector<OutgoingEvent> sent = {make_event(1, 1), make_event(2, 1), make_event(3, 1), make_event(4, 1)};
    telemetry_kit::v1::BatchAck ack;
    ack.add_accepted(sent[0].id);
    ack.add_duplicate(sent[1].id);
    auto* r = ack.add_rejected();
    r->set_id(sent[2].id);
    r->set_reason("name too long");
    ack.add_accepted(std::string(16, 9));  // never sent: must not be deleted
    ack.add_accepted(sent[0].id);          // named twice: counted once
    const auto outcome = wire::read_ack(ack.SerializeAsString(), sent);
    REQUIRE(outcome);
    CHECK(outcome->delivered == std::vector<std::string>{sent[0].id, sent[1].id});
    CHECK(outcome->accepted == 1);
    CHECK(outcome->duplicate == 1);
    CHECK(outcome->rejected_count == 1);
    REQUIRE(outcome->rejected.count("rejected: name too long") == 1);
    CHECK(outcome->rejected.at("rejected: name too long") == std::vector<std::string>{sent[2].id});
    CHECK(outcome->unanswered == 1);
    CHECK_FALSE(wire::read_ack("\xff\xff\xff", sent));
}

TEST_CASE("short_body keeps error messages printable and short") {
    CHECK(wire::short_body("bad key\n") == "bad key");
    CHECK(wire::short_body(std::string("a\0b\x01", 4)) == "ab");
    CHECK(wire::short_body(std::string(500, 'x')).size() == 203);
}

TEST_CASE("erasure verdicts: only the collector's own success is success, a 404 is a refusal") {
    using V = wire::ErasureVerdict;
    CHECK(wire::erasure_verdict(200, "{\"deleted\":3}\n") == V::done);
    CHECK(wire::erasure_verdict(200, "{\"deleted\":0}\n") == V::done);  // nothing held: erased all the same
    CHECK(wire::erasure_verdict(204, "") == V::done);
    CHECK(wire::erasure_verdict(200, "<html>welcome to the hotel wifi</html>") == V::retry);
    CHECK(wire::erasure_verdict(404, "not found\n") == V::refused);
    CHECK(wire::erasure_verdict(400, "malformed anonymous id\n") == V::refused);
    CHECK(wire::erasure_verdict(401, "") == V::refused);
    CHECK(wire::erasure_verdict(403, "") == V::refused);
    CHECK(wire::erasure_verdict(405, "") == V::refused);
    CHECK(wire::erasure_verdict(410, "") == V::refused);
    CHECK(wire::erasure_verdict(408, "") == V::retry);
    CHECK(wire::erasure_verdict(429, "") == V::retry);
    CHECK(wire::erasure_verdict(500, "") == V::retry);
    CHECK(wire::erasure_verdict(503, "") == V::retry);
    CHECK(wire::erasure_verdict(301, "") == V::retry);
    CHECK(wire::erasure_verdict(100, "") == V::retry);
}
