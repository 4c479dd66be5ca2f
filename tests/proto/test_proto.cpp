#include <catch2/catch.hpp>

#include <google/protobuf/util/json_util.h>

#include "telemetry_kit/v1/agent.pb.h"
#include "telemetry_kit/v1/collector.pb.h"
#include "tk/common/framing.hpp"
#include "tk/common/uuid.hpp"

namespace v1 = telemetry_kit::v1;

namespace {
v1::Event sample_event() {
    v1::Event event;
    event.set_id(tk::to_bytes(tk::uuid_v7()));
    event.set_tool("my-cli");
    event.set_tool_version("1.2.0");
    event.set_kind(v1::EVENT_KIND_COMMAND);
    event.set_name("build");
    event.set_timestamp_unix_ms(1'700'000'000'123);
    (*event.mutable_attributes())["target"].set_string_value("release");
    (*event.mutable_attributes())["jobs"].set_int_value(8);
    (*event.mutable_attributes())["ratio"].set_double_value(0.25);
    (*event.mutable_attributes())["cached"].set_bool_value(true);
    event.set_success(false);
    event.set_duration_us(1234567);
    event.set_exit_code(2);
    return event;
}
}  // namespace

TEST_CASE("an Event round-trips through the wire with every field") {
    const v1::Event event = sample_event();
    std::string bytes;
    REQUIRE(event.SerializeToString(&bytes));
    v1::Event back;
    REQUIRE(back.ParseFromString(bytes));
    CHECK(back.id().size() == 16);
    CHECK(back.id() == event.id());
    CHECK(back.tool() == "my-cli");
    CHECK(back.kind() == v1::EVENT_KIND_COMMAND);
    CHECK(back.timestamp_unix_ms() == 1'700'000'000'123);
    CHECK(back.attributes().at("target").string_value() == "release");
    CHECK(back.attributes().at("jobs").int_value() == 8);
    CHECK(back.attributes().at("ratio").double_value() == 0.25);
    CHECK(back.attributes().at("cached").bool_value());
    REQUIRE(back.has_success());
    CHECK_FALSE(back.success());
    CHECK(back.duration_us() == 1234567);
    CHECK(back.exit_code() == 2);
    CHECK(back.anonymous_id().empty());
}

TEST_CASE("optional fields are absent unless set, even when zero") {
    v1::Event event;
    CHECK_FALSE(event.has_success());
    CHECK_FALSE(event.has_exit_code());
    event.set_exit_code(0);
    std::string bytes;
    REQUIRE(event.SerializeToString(&bytes));
    v1::Event back;
    REQUIRE(back.ParseFromString(bytes));
    CHECK(back.has_exit_code());
    CHECK_FALSE(back.has_duration_us());
}

TEST_CASE("client frames round-trip through the framing codec") {
    std::string stream;
    v1::ClientFrame hello;
    hello.mutable_hello()->set_protocol_version(1);
    hello.mutable_hello()->mutable_tool()->set_tool("my-cli");
    hello.mutable_hello()->mutable_tool()->set_consent_mode(v1::CONSENT_MODE_OPT_OUT);
    hello.mutable_hello()->mutable_signals()->add_ci_markers("GITHUB_ACTIONS");
    REQUIRE(tk::framing::append_message(stream, hello));
    v1::ClientFrame event;
    *event.mutable_event() = sample_event();
    REQUIRE(tk::framing::append_message(stream, event));
    v1::ClientFrame flush;
    flush.mutable_flush()->set_request_id(7);
    flush.mutable_flush()->set_deadline_ms(500);
    REQUIRE(tk::framing::append_message(stream, flush));

    tk::framing::FrameDecoder decoder;
    decoder.feed(stream);
    std::vector<v1::ClientFrame> frames;
    std::string_view payload;
    while (decoder.next(payload) == tk::framing::FrameDecoder::Status::frame) {
        v1::ClientFrame frame;
        REQUIRE(frame.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
        frames.push_back(frame);
    }
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].hello().tool().consent_mode() == v1::CONSENT_MODE_OPT_OUT);
    CHECK(frames[0].hello().signals().ci_markers(0) == "GITHUB_ACTIONS");
    CHECK(frames[1].event().name() == "build");
    CHECK(frames[2].body_case() == v1::ClientFrame::kFlush);
    CHECK(frames[2].flush().deadline_ms() == 500);
}

TEST_CASE("a BatchAck names accepted, duplicate and rejected events") {
    v1::BatchAck ack;
    const std::string a = tk::to_bytes(tk::uuid_v7());
    const std::string b = tk::to_bytes(tk::uuid_v7());
    ack.add_accepted(a);
    ack.add_duplicate(b);
    auto* rejected = ack.add_rejected();
    rejected->set_id(tk::to_bytes(tk::uuid_v7()));
    rejected->set_reason("name too long");
    std::string bytes;
    REQUIRE(ack.SerializeToString(&bytes));
    v1::BatchAck back;
    REQUIRE(back.ParseFromString(bytes));
    CHECK(back.accepted(0) == a);
    CHECK(back.duplicate(0) == b);
    CHECK(back.rejected(0).reason() == "name too long");
}

TEST_CASE("a Batch has a JSON form with the same fields (for curl)") {
    v1::Batch batch;
    *batch.add_events() = sample_event();
    std::string json;
    REQUIRE(google::protobuf::util::MessageToJsonString(batch, &json).ok());
    CHECK(json.find("\"name\":\"build\"") != std::string::npos);
    v1::Batch back;
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
    CHECK(back.events(0).id() == batch.events(0).id());
    CHECK(back.events(0).attributes().at("jobs").int_value() == 8);
}

TEST_CASE("garbage bytes do not parse as a well-formed frame body") {
    v1::ClientFrame frame;
    const std::string garbage = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
    CHECK_FALSE(frame.ParseFromString(garbage));
}
