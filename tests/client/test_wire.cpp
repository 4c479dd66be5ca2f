// The client's hand-written wire encoding against the generated protobuf classes (the .proto
// files are the contract), plus the spool writer and the environment rules.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <deque>

#include "environment.hpp"
#include "spool.hpp"
#include "support/process.hpp"
#include "telemetry_kit/v1/agent.pb.h"
#include "tk/common/framing.hpp"
#include "tk/common/spool_format.hpp"
#include "tk/common/uuid.hpp"
#include "wire.hpp"

namespace v1 = telemetry_kit::v1;
namespace wire = telemetry_kit::detail::wire;
using telemetry_kit::Attribute;

namespace {

// Splits a byte string into frame payloads with the shared decoder.
std::vector<std::string> frames_of(const std::string& bytes) {
    tk::framing::FrameDecoder decoder;
    decoder.feed(bytes);
    std::vector<std::string> frames;
    std::string_view payload;
    while (decoder.next(payload) == tk::framing::FrameDecoder::Status::frame) frames.emplace_back(payload);
    REQUIRE(decoder.buffered() == 0);
    return frames;
}

/// The payloads of a spool file's records: every one intact (magic, length, CRC-32), nothing else.
std::vector<std::string> spool_records_of(const std::string& bytes) {
    const auto scan = tk::spool::scan(bytes);
    REQUIRE_FALSE(scan.legacy);
    REQUIRE(scan.damaged_spans == 0);
    return {scan.records.begin(), scan.records.end()};
}

std::string full_event() {
    static const std::string id = tk::to_bytes(tk::uuid_v7());
    static const std::vector<Attribute> attributes = {
        {"target", "release"}, {"jobs", 8},       {"negative", -5}, {"zero", 0},
        {"ratio", 0.25},       {"cached", false}, {"empty", ""},    {"big", std::int64_t{1} << 40}};
    wire::EventFields event;
    event.id = id;
    event.tool = "my-cli";
    event.tool_version = "1.2.0";
    event.kind = wire::Kind::command;
    event.name = "build";
    event.timestamp_unix_ms = 1'760'000'000'123;
    event.attributes = attributes.data();
    event.attribute_count = attributes.size();
    event.success = false;
    event.duration_us = 0;
    event.exit_code = -2;
    std::string out;
    wire::encode_event(out, event);
    return out;
}

}  // namespace

TEST_CASE("an encoded event parses as v1.Event with every field intact") {
    v1::Event event;
    REQUIRE(event.ParseFromString(full_event()));
    CHECK(event.id().size() == 16);
    CHECK(event.tool() == "my-cli");
    CHECK(event.tool_version() == "1.2.0");
    CHECK(event.kind() == v1::EVENT_KIND_COMMAND);
    CHECK(event.name() == "build");
    CHECK(event.timestamp_unix_ms() == 1'760'000'000'123);
    const auto& a = event.attributes();
    REQUIRE(a.size() == 8);
    CHECK(a.at("target").string_value() == "release");
    CHECK(a.at("jobs").int_value() == 8);
    CHECK(a.at("negative").int_value() == -5);
    CHECK(a.at("zero").value_case() == v1::AttributeValue::kIntValue);
    CHECK(a.at("ratio").double_value() == 0.25);
    CHECK(a.at("cached").value_case() == v1::AttributeValue::kBoolValue);
    CHECK_FALSE(a.at("cached").bool_value());
    CHECK(a.at("empty").value_case() == v1::AttributeValue::kStringValue);
    CHECK(a.at("big").int_value() == (std::int64_t{1} << 40));
    // Explicit presence: false, 0 and a negative exit code are all sent.
    REQUIRE(event.has_success());
    CHECK_FALSE(event.success());
    REQUIRE(event.has_duration_us());
    CHECK(event.duration_us() == 0);
    REQUIRE(event.has_exit_code());
    CHECK(event.exit_code() == -2);
    CHECK(event.anonymous_id().empty());
}

TEST_CASE("unset optional fields stay absent") {
    wire::EventFields fields;
    fields.name = "cache.remote";
    fields.kind = wire::Kind::feature;
    std::string out;
    wire::encode_event(out, fields);
    v1::Event event;
    REQUIRE(event.ParseFromString(out));
    CHECK(event.kind() == v1::EVENT_KIND_FEATURE);
    CHECK_FALSE(event.has_success());
    CHECK_FALSE(event.has_duration_us());
    CHECK_FALSE(event.has_exit_code());
}

TEST_CASE("hello, event and flush frames parse as ClientFrame") {
    telemetry_kit::Config config{"my-cli", "1.2.0", "https://telemetry.example.com", "key-1"};
    config.consent_mode = telemetry_kit::ConsentMode::opt_out;
    config.allow_ci = true;
    wire::Signals signals;
    signals.do_not_track = "";
    signals.ci_markers = {"CI", "GITHUB_ACTIONS"};
    std::string bytes = wire::hello_frame(wire::encode_tool_identity(config), wire::encode_signals(signals));
    const std::string event = full_event();
    wire::append_event_frame(bytes, event);
    wire::append_flush_frame(bytes, 77, 500);
    std::string alone;
    wire::append_event_frame(alone, event);
    CHECK(alone.size() == wire::event_frame_size(event.size()));

    const auto frames = frames_of(bytes);
    REQUIRE(frames.size() == 3);
    v1::ClientFrame hello;
    REQUIRE(hello.ParseFromString(frames[0]));
    REQUIRE(hello.has_hello());
    CHECK(hello.hello().protocol_version() == 1);
    CHECK(hello.hello().tool().tool() == "my-cli");
    CHECK(hello.hello().tool().version() == "1.2.0");
    CHECK(hello.hello().tool().endpoint() == "https://telemetry.example.com");
    CHECK(hello.hello().tool().ingest_key() == "key-1");
    CHECK(hello.hello().tool().consent_mode() == v1::CONSENT_MODE_OPT_OUT);
    CHECK(hello.hello().tool().allow_ci());
    CHECK_FALSE(hello.hello().tool().local_only());
    CHECK(hello.hello().signals().do_not_track_set());
    CHECK(hello.hello().signals().do_not_track().empty());
    CHECK_FALSE(hello.hello().signals().tool_disabled_set());
    REQUIRE(hello.hello().signals().ci_markers_size() == 2);
    CHECK(hello.hello().signals().ci_markers(1) == "GITHUB_ACTIONS");

    v1::ClientFrame event_frame;
    REQUIRE(event_frame.ParseFromString(frames[1]));
    REQUIRE(event_frame.has_event());
    CHECK(event_frame.event().name() == "build");

    v1::ClientFrame flush;
    REQUIRE(flush.ParseFromString(frames[2]));
    REQUIRE(flush.has_flush());
    CHECK(flush.flush().request_id() == 77);
    CHECK(flush.flush().deadline_ms() == 500);
}

TEST_CASE("consent requests and spool records parse") {
    const auto control = frames_of(wire::consent_request_frame(9, wire::ConsentAction::grant, "my-cli"));
    REQUIRE(control.size() == 1);
    v1::ClientFrame frame;
    REQUIRE(frame.ParseFromString(control[0]));
    REQUIRE(frame.has_control());
    CHECK(frame.control().request_id() == 9);
    REQUIRE(frame.control().has_consent());
    CHECK(frame.control().consent().action() == v1::ConsentRequest::ACTION_GRANT);
    CHECK(frame.control().consent().tool() == "my-cli");

    wire::Signals signals;
    signals.tool_disabled = "0";
    const std::string prefix =
        wire::spool_record_prefix(wire::encode_tool_identity({"my-cli", "2.0"}), wire::encode_signals(signals));
    std::string bytes;
    wire::append_spool_record(bytes, prefix, full_event());
    wire::append_spool_record(bytes, prefix, full_event());
    const auto records = spool_records_of(bytes);
    REQUIRE(records.size() == 2);
    v1::SpoolRecord record;
    REQUIRE(record.ParseFromString(records[1]));
    CHECK(record.tool().tool() == "my-cli");
    CHECK(record.tool().version() == "2.0");
    CHECK(record.signals().tool_disabled_set());
    CHECK(record.signals().tool_disabled() == "0");
    CHECK(record.event().attributes().at("jobs").int_value() == 8);
}

TEST_CASE("agent replies written by the generated classes decode") {
    v1::AgentReply ack;
    ack.mutable_flush_ack()->set_request_id(1234567890123ULL);
    ack.mutable_flush_ack()->set_accepted(5);
    ack.mutable_flush_ack()->set_dropped(2);
    wire::Reply reply;
    REQUIRE(wire::decode_reply(ack.SerializeAsString(), reply));
    CHECK(reply.type == wire::Reply::Type::flush_ack);
    CHECK(reply.request_id == 1234567890123ULL);
    CHECK(reply.accepted == 5);
    CHECK(reply.dropped == 2);

    v1::AgentReply control;
    control.mutable_control()->set_request_id(3);
    auto* consent = control.mutable_control()->mutable_consent();
    consent->set_global_consent(v1::CONSENT_UNSET);
    auto* other = consent->add_tools();
    other->set_tool("other");
    other->set_consent(v1::CONSENT_DENIED);
    auto* mine = consent->add_tools();
    mine->set_tool("my-cli");
    mine->set_consent(v1::CONSENT_GRANTED);
    mine->set_consent_mode(v1::CONSENT_MODE_OPT_OUT);
    REQUIRE(wire::decode_reply(control.SerializeAsString(), reply));
    CHECK(reply.type == wire::Reply::Type::control);
    CHECK(reply.request_id == 3);
    REQUIRE(reply.has_consent);
    REQUIRE(reply.tools.size() == 2);
    CHECK(reply.tools[1].tool == "my-cli");
    CHECK(reply.tools[1].consent == wire::ConsentValue::granted);
    CHECK(reply.tools[0].consent == wire::ConsentValue::denied);

    // Replies this client does not ask for (status) still decode; their body is skipped.
    v1::AgentReply status;
    status.mutable_control()->set_request_id(4);
    status.mutable_control()->mutable_status()->set_agent_version("9.9");
    REQUIRE(wire::decode_reply(status.SerializeAsString(), reply));
    CHECK(reply.request_id == 4);
    CHECK_FALSE(reply.has_consent);

    v1::AgentReply error;
    error.mutable_error()->set_reason("unsupported protocol_version");
    REQUIRE(wire::decode_reply(error.SerializeAsString(), reply));
    CHECK(reply.type == wire::Reply::Type::error);
    CHECK(reply.error == "unsupported protocol_version");

    // Truncated or garbage input is rejected, never read past its end.
    const std::string bytes = control.SerializeAsString();
    for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
        wire::Reply partial;
        CHECK_FALSE(wire::decode_reply(std::string_view(bytes).substr(0, cut), partial));
    }
    CHECK_FALSE(wire::decode_reply(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), reply));
}

TEST_CASE("opt-out variables: names and truthiness") {
    using telemetry_kit::detail::tool_disabled_variable;
    using telemetry_kit::detail::truthy;
    CHECK(tool_disabled_variable("my-cli") == "MY_CLI_TELEMETRY_DISABLED");
    CHECK(tool_disabled_variable("demo.cli2") == "DEMO_CLI2_TELEMETRY_DISABLED");
    CHECK(truthy("1"));
    CHECK(truthy("true"));
    CHECK(truthy("yes"));
    CHECK_FALSE(truthy(nullptr));
    CHECK_FALSE(truthy(""));
    CHECK_FALSE(truthy("0"));
    CHECK_FALSE(truthy("FALSE"));
}

TEST_CASE("the spool writer appends whole records, private, bounded") {
    tk::test::TempDir dir;
    const auto state = dir.path() / "state";
    const std::string prefix = wire::spool_record_prefix(wire::encode_tool_identity({"my-cli", "1"}), "");
    telemetry_kit::detail::SpoolWriter writer(state, prefix, 4096);
    std::deque<std::string> events(3, full_event());
    const auto result = writer.append(events);
    CHECK(result.spooled == 3);
    CHECK(result.dropped == 0);
    CHECK(events.empty());
    struct stat st {};
    REQUIRE(::stat((state / "spool").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(state.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    // Past the size bound: dropped and counted, and the file holds only whole records.
    std::deque<std::string> more(100, full_event());
    const auto bounded = writer.append(more);
    CHECK(bounded.dropped > 0);
    CHECK(bounded.spooled + bounded.dropped == 100);
    const auto records = spool_records_of(tk::test::read_file(state / "spool"));
    CHECK(records.size() == 3 + bounded.spooled);
    CHECK(tk::test::read_file(state / "spool").size() <= 4096);
}

TEST_CASE("processes appending to one spool at once never interleave records") {
    tk::test::TempDir dir;
    const auto state = dir.path() / "state";
    constexpr int kProcesses = 4;
    constexpr int kBatches = 50;
    std::vector<pid_t> children;
    for (int p = 0; p < kProcesses; ++p) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            telemetry_kit::detail::SpoolWriter writer(state, "", 64u << 20);
            for (int b = 0; b < kBatches; ++b) {
                std::deque<std::string> events(p + 1, full_event());
                writer.append(events);
            }
            ::_exit(0);
        }
        children.push_back(pid);
    }
    for (const pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
    }
    const auto records = spool_records_of(tk::test::read_file(state / "spool"));
    CHECK(records.size() == kBatches * (1 + 2 + 3 + 4));
    for (const auto& bytes : records) {
        v1::SpoolRecord record;
        REQUIRE(record.ParseFromString(bytes));
        REQUIRE(record.event().name() == "build");
    }
}
