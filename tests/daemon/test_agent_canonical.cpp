// What is stored = what `tk events` shows = what is sent (docs/privacy.md, "Canonical form"): the
// agent stores only the canonical serialization of an event, whatever bytes the client sent. Unit
// tests of the canonical-form check, and hand-made frames against the real tk-agent, reading the
// stored bytes straight from its SQLite queue.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <map>
#include <string>
#include <vector>

#include "agent_client.hpp"
#include "tk/agent/intake.hpp"
#include "tk/common/framing.hpp"

using namespace tk::test;
using tk::agent::canonical_client_event;
using tk::agent::serialize_canonical;
namespace v1 = telemetry_kit::v1;

namespace {

constexpr const char* kTool = "handmade";

/// The check as the agent runs it for a connection whose Hello named kTool.
bool check(const std::string& raw) { return canonical_client_event(raw, kTool); }

std::string canonical(const v1::Event& event) {
    std::string out;
    serialize_canonical(event, out);
    return out;
}

void append_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7F) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void append_bytes_field(std::string& out, std::uint32_t field, const std::string& value) {
    append_varint(out, (field << 3) | 2);
    append_varint(out, value.size());
    out += value;
}

/// A map<string, AttributeValue> entry holding a string value, as a client could write it.
std::string attribute_entry(const std::string& key, const std::string& value) {
    std::string inner;
    append_bytes_field(inner, 1, value);
    std::string entry;
    append_bytes_field(entry, 1, key);
    append_bytes_field(entry, 2, inner);
    std::string field;
    append_bytes_field(field, 7, entry);
    return field;
}

v1::Event rich_event() {
    auto event = make_event("build");
    event.set_kind(v1::EVENT_KIND_COMMAND);
    event.set_tool_version("2.0.0");
    event.set_success(false);  // explicit presence: false is on the wire
    event.set_duration_us(-5);
    event.set_exit_code(-1);  // int32: sign-extended to ten bytes
    auto& attributes = *event.mutable_attributes();
    attributes["zeta"].set_string_value("");
    attributes["alpha"].set_int_value(0);
    attributes["mid"].set_double_value(0.5);
    attributes["bool"].set_bool_value(true);
    attributes["empty"];  // no value set
    attributes[""].set_int_value(7);
    return event;
}

/// Every payload in the agent's queue, in id order.
std::vector<std::string> stored_payloads(const RunningAgent& agent) {
    sqlite3* db = nullptr;
    const auto file = agent.home() / "queue.db";
    REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* select = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT payload FROM events ORDER BY id", -1, &select, nullptr) == SQLITE_OK);
    std::vector<std::string> payloads;
    while (sqlite3_step(select) == SQLITE_ROW) {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(select, 0));
        payloads.emplace_back(data, static_cast<std::size_t>(sqlite3_column_bytes(select, 0)));
    }
    sqlite3_finalize(select);
    sqlite3_close(db);
    return payloads;
}

/// A framed ClientFrame{event = raw}: the bytes exactly as given, not re-encoded by protobuf.
std::string event_frame(const std::string& raw_event) {
    std::string frame;
    append_bytes_field(frame, 2, raw_event);
    std::string out;
    tk::framing::append_frame(out, frame);
    return out;
}

}  // namespace

TEST_CASE("canonical check: protobuf's own deterministic serialization passes") {
    CHECK(check(canonical(make_event("plain"))));
    CHECK(check(canonical(rich_event())));
    auto many = make_event("many");
    for (int i = 0; i < 50; ++i) (*many.mutable_attributes())["k" + std::to_string(i * 7919 % 101)].set_int_value(i);
    CHECK(check(canonical(many)));
}

TEST_CASE("canonical check: anything protobuf would not write, or the agent's own fields, fail") {
    const auto base = rich_event();
    const std::string bytes = canonical(base);
    REQUIRE(check(bytes));

    SECTION("agent-owned fields set by the client") {
        auto spoofed = base;
        spoofed.set_tool("spoofed");
        CHECK_FALSE(check(canonical(spoofed)));
        auto own = base;
        own.set_tool(kTool);  // what the client library sends: the Hello's name
        CHECK(check(canonical(own)));
        auto anonymous = base;
        anonymous.set_anonymous_id("client-made-up");
        CHECK_FALSE(check(canonical(anonymous)));
        auto ci = base;
        ci.set_ci(true);
        CHECK_FALSE(check(canonical(ci)));
    }
    SECTION("an unknown field") {
        std::string unknown = bytes;
        append_bytes_field(unknown, 99, std::string(100, 'x'));
        CHECK_FALSE(check(unknown));
    }
    SECTION("a duplicated field (protobuf keeps the last)") {
        std::string twice = bytes;
        append_bytes_field(twice, 5, "again");
        CHECK_FALSE(check(twice));
    }
    SECTION("a duplicated map key, or keys out of order") {
        auto event = make_event("map");
        std::string raw = canonical(event);
        std::string duplicated = raw + attribute_entry("path", "/home/alice/x") + attribute_entry("path", "ok");
        CHECK_FALSE(check(duplicated));
        std::string unsorted = raw + attribute_entry("b", "1") + attribute_entry("a", "2");
        CHECK_FALSE(check(unsorted));
        std::string sorted = raw + attribute_entry("a", "2") + attribute_entry("b", "1");
        CHECK(check(sorted));
    }
    SECTION("fields out of order") {
        auto event = make_event("order");
        std::string raw;
        append_bytes_field(raw, 5, "order");
        append_bytes_field(raw, 1, event.id());
        CHECK_FALSE(check(raw));
    }
    SECTION("default values written, overlong varints, out-of-range bools and int32s") {
        const std::string id = canonical(make_event("x")).substr(0, 18);  // field 1, 16 bytes
        CHECK(check(id + std::string("\x20\x01", 2)));                    // kind = 1
        CHECK_FALSE(check(id + std::string("\x20\x00", 2)));              // kind = 0 written
        CHECK_FALSE(check(id + std::string("\x20\x81\x00", 3)));          // overlong 1
        CHECK_FALSE(check(id + std::string("\x40\x02", 2)));              // success = 2
        CHECK(check(id + std::string("\x40\x00", 2)));                    // success = false
        // exit_code -1 truncated to 32 bits (5 bytes) parses, but protobuf writes 10 bytes.
        CHECK_FALSE(check(id + std::string("\x50\xFF\xFF\xFF\xFF\x0F", 6)));
        CHECK_FALSE(check(id + std::string("\x2A\x00", 2)));  // name = "" written
        CHECK_FALSE(check(id.substr(0, 10)));                 // truncated
    }
}

TEST_CASE("the agent stores only the canonical, scrubbed form of hand-made frames") {
    RunningAgent agent;
    const std::string home_path = agent.home().string() + "/secret-project";
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity(kTool)));

    // 1. The client's own anonymous_id and ci flag.
    auto own_id = make_event("own-id");
    own_id.set_anonymous_id("client-made-up");
    own_id.set_ci(true);
    REQUIRE(client.send_raw(event_frame(canonical(own_id))));
    // 2. A duplicated field: the first copy of the name carries a home path.
    auto duplicated = make_event("dup-field");
    std::string dup_raw = canonical(duplicated).substr(0, 18);
    append_bytes_field(dup_raw, 5, home_path);
    append_bytes_field(dup_raw, 5, "dup-field");
    REQUIRE(client.send_raw(event_frame(dup_raw)));
    // 3. A duplicated map key whose first copy holds a home path.
    auto dup_key = make_event("dup-key");
    const std::string dup_key_raw =
        canonical(dup_key) + attribute_entry("path", home_path) + attribute_entry("path", "plain");
    REQUIRE(client.send_raw(event_frame(dup_key_raw)));
    // 3b. The same, the copies apart and out of key order.
    auto dup_apart = make_event("dup-apart");
    const std::string dup_apart_raw = canonical(dup_apart) + attribute_entry("path", home_path) +
                                      attribute_entry("a", "1") + attribute_entry("path", "plain");
    REQUIRE(client.send_raw(event_frame(dup_apart_raw)));
    // 4. Unknown fields, top level and inside an attribute value.
    auto unknown = make_event("unknown");
    std::string unknown_raw = canonical(unknown);
    append_bytes_field(unknown_raw, 99, std::string(4096, 'u'));
    {
        std::string inner;
        append_bytes_field(inner, 1, "v");
        append_bytes_field(inner, 9, "hidden-in-value");
        std::string entry;
        append_bytes_field(entry, 1, "k");
        append_bytes_field(entry, 2, inner);
        append_bytes_field(unknown_raw, 7, entry);
    }
    REQUIRE(client.send_raw(event_frame(unknown_raw)));
    // 5. Canonical events (the fast path) next to them: with and without the tool's name and
    //    version, as the client library and other clients send them.
    auto plain = make_event("plain");
    (*plain.mutable_attributes())["n"].set_int_value(3);
    REQUIRE(client.send_raw(event_frame(canonical(plain))));
    auto named = make_event("named");
    named.set_tool(kTool);
    named.set_tool_version("9.9");
    REQUIRE(client.send_raw(event_frame(canonical(named))));
    auto versioned = make_event("versioned");
    versioned.set_tool_version("9.8");
    REQUIRE(client.send_raw(event_frame(canonical(versioned))));
    // 6. Attributes out of key order (the client library writes them as the tool added them).
    auto unsorted = make_event("unsorted");
    std::string unsorted_raw =
        canonical(unsorted) + attribute_entry("zz", "1") + attribute_entry("aa", "2") + attribute_entry("mm", "3");
    REQUIRE(client.send_raw(event_frame(unsorted_raw)));
    const auto ack = client.flush();
    REQUIRE(ack);
    REQUIRE(ack->accepted() == 9);

    const auto payloads = stored_payloads(agent);
    REQUIRE(payloads.size() == 9);
    const auto listed = agent.control(events_request(kTool)).events();
    REQUIRE(listed.events_size() == 9);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        const std::string& payload = payloads[i];
        INFO("event " << i);
        v1::Event parsed;
        REQUIRE(parsed.ParseFromString(payload));
        // Stored bytes are exactly the canonical serialization of what they decode to: no hidden
        // first copies, no unknown fields, nothing that decoding would hide.
        CHECK(canonical(parsed) == payload);
        CHECK(parsed.GetReflection()->GetUnknownFields(parsed).empty());
        CHECK(payload.find(home_path) == std::string::npos);
        CHECK(payload.find("client-made-up") == std::string::npos);
        CHECK(payload.find("uuuuuuuu") == std::string::npos);
        CHECK(payload.find("hidden-in-value") == std::string::npos);
        CHECK(parsed.tool() == kTool);
        CHECK_FALSE(parsed.tool_version().empty());
        CHECK(parsed.anonymous_id().size() == 32);
        CHECK_FALSE(parsed.ci());
        // What `tk events` shows is what is stored (and the forwarder sends these bytes as is).
        CHECK(canonical(listed.events(static_cast<int>(i))) == payload);
    }
    std::map<std::string, v1::Event> by_name;
    for (const auto& payload : payloads) {
        v1::Event e;
        e.ParseFromString(payload);
        by_name[e.name()] = e;
    }
    for (const char* name : {"dup-key", "dup-apart"}) {
        REQUIRE(by_name[name].attributes().count("path") == 1);
        CHECK(by_name[name].attributes().at("path").string_value() == "plain");
    }
    CHECK(by_name["unsorted"].attributes().size() == 3);
}

TEST_CASE("events stored as sent (not parsed) still get every check: scrubber, bounds, UTF-8") {
    // The agent stores a canonical event from its bytes without parsing it (Intake::accept_as_sent)
    // only when nothing would change it; each of these must take the parsing path instead.
    RunningAgent agent;
    const std::string home_path = agent.home().string() + "/secret-project";
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity(kTool)));
    // Canonical bytes, all of them: protobuf's own serialization.
    auto scrubbed = make_event("scrubbed");
    (*scrubbed.mutable_attributes())["path"].set_string_value(home_path + "/main.cpp");
    REQUIRE(client.send_raw(event_frame(canonical(scrubbed))));
    auto empty_key = make_event("empty-key");
    (*empty_key.mutable_attributes())[""].set_string_value("v");
    (*empty_key.mutable_attributes())["kept"].set_string_value("v");
    REQUIRE(client.send_raw(event_frame(canonical(empty_key))));
    auto long_name = make_event(std::string(200, 'n'));
    REQUIRE(client.send_raw(event_frame(canonical(long_name))));
    auto long_value = make_event("long-value");
    (*long_value.mutable_attributes())["v"].set_string_value(std::string(2000, 'v'));
    REQUIRE(client.send_raw(event_frame(canonical(long_value))));
    const auto ack = client.flush();
    REQUIRE(ack);
    REQUIRE(ack->accepted() == 4);

    std::map<std::string, v1::Event> by_name;
    for (const auto& payload : stored_payloads(agent)) {
        v1::Event e;
        REQUIRE(e.ParseFromString(payload));
        CHECK(canonical(e) == payload);
        CHECK(payload.find(home_path) == std::string::npos);
        by_name[e.name()] = e;
    }
    REQUIRE(by_name.size() == 4);
    CHECK(by_name["scrubbed"].attributes().at("path").string_value() != home_path + "/main.cpp");
    CHECK(by_name["empty-key"].attributes().size() == 1);
    CHECK(by_name.count(std::string(128, 'n')) == 1);
    CHECK(by_name["long-value"].attributes().at("v").string_value().size() <= 1024);

    // Not UTF-8 in a string value: the bytes are canonical, but protobuf refuses them, so does the agent.
    AgentClient bad(agent.socket());
    REQUIRE(bad.hello(tool_identity(kTool)));
    REQUIRE(bad.send_raw(event_frame(canonical(make_event("bad-utf8")) + attribute_entry("k", "\xff\xfe"))));
    const auto reply = bad.receive(std::chrono::seconds(5));
    REQUIRE(reply);
    CHECK(reply->error().reason().find("malformed") != std::string::npos);
    CHECK(bad.closed_by_agent());
    CHECK(stored_payloads(agent).size() == 4);
}
