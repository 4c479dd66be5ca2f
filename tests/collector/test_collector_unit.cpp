// The collector's pure parts: per-event validation, COPY/JSON escaping, the rate limiter.
#include <catch2/catch.hpp>

#include "tk/common/json.hpp"

#include "tk/collector/ingest.hpp"
#include "tk/collector/rate_limiter.hpp"
#include "tk/common/uuid.hpp"

using namespace tk::collector;
using telemetry_kit::v1::Event;

namespace {
Event valid_event() {
    Event event;
    event.set_id(tk::to_bytes(tk::uuid_v7()));
    event.set_tool("my-cli");
    event.set_name("build");
    return event;
}
const TimeWindow kWindow = time_window_now(400);
}  // namespace

TEST_CASE("validate_event accepts a plain event and names what is wrong with others") {
    const FieldLimits limits;
    CHECK_FALSE(validate_event(valid_event(), "my-cli", limits, kWindow));

    auto reason = [&](auto change) {
        Event event = valid_event();
        change(event);
        const auto rejection = validate_event(event, "my-cli", limits, kWindow);
        return rejection ? std::string(rejection->message) : std::string("accepted");
    };
    CHECK(reason([](Event& e) { e.set_tool("other"); }) == "tool does not match the ingest key");
    CHECK(reason([](Event& e) { e.set_id(std::string(16, '\0')); }) == "id is not a 16-byte UUIDv7");
    CHECK(reason([](Event& e) { e.set_name(""); }) == "name is empty");
    CHECK(reason([](Event& e) { e.set_name(std::string(128, 'n')); }) == "accepted");
    CHECK(reason([](Event& e) { e.set_name(std::string(129, 'n')); }) == "name too long");
    CHECK(reason([](Event& e) { e.set_tool_version(std::string(65, 'v')); }) == "tool_version too long");
    CHECK(reason([](Event& e) { e.set_name("a\xc3"); }) == "string is not valid UTF-8");
    CHECK(reason([](Event& e) { e.set_name("\xed\xa0\x80"); }) == "string is not valid UTF-8");  // a surrogate
    CHECK(reason([](Event& e) { e.set_name("\xc0\xaf"); }) == "string is not valid UTF-8");      // overlong
    CHECK(reason([](Event& e) { e.set_name("caf\xc3\xa9 \xf0\x9f\x9a\x80"); }) == "accepted");
    CHECK(reason([](Event& e) { (*e.mutable_attributes())[std::string("k\0", 2)].set_int_value(1); }) ==
          "string contains a NUL byte");
    CHECK(reason([](Event& e) { (*e.mutable_attributes())[std::string(65, 'k')].set_int_value(1); }) ==
          "attribute key empty or too long");
    CHECK(reason([](Event& e) { e.set_timestamp_unix_ms(-1); }) == "timestamp out of range");
    CHECK(reason([](Event& e) { e.set_kind(static_cast<telemetry_kit::v1::EventKind>(40000)); }) == "kind out of range");
}

TEST_CASE("COPY text and JSON escaping keep every byte") {
    std::string copy;
    detail::append_copy_text(copy, "a\\b\tc\nd\re");
    CHECK(copy == "a\\\\b\\tc\\nd\\re");
    std::string json;
    tk::json::append_string(json, "q\"b\\n\n\x01");
    CHECK(json == "\"q\\\"b\\\\n\\n\\u0001\"");
    Event event = valid_event();
    (*event.mutable_attributes())["d"].set_double_value(0.5);
    (*event.mutable_attributes())["unset"];
    const std::string attributes = detail::attributes_json(event);
    CHECK(attributes.find("\"d\":0.5") != std::string::npos);
    CHECK(attributes.find("\"unset\":null") != std::string::npos);
}

TEST_CASE("the rate limiter allows a burst and then one request per refill for each key") {
    RateLimiter limiter(2.0, 3.0);
    const auto t0 = RateLimiter::Clock::now();
    for (int i = 0; i < 3; ++i) CHECK(limiter.acquire("a", t0) == 0);
    CHECK(limiter.acquire("a", t0) == 1);
    CHECK(limiter.acquire("b", t0) == 0);
    CHECK(limiter.acquire("a", t0 + std::chrono::milliseconds(600)) == 0);
    RateLimiter unlimited(0, 0);
    for (int i = 0; i < 1000; ++i) REQUIRE(unlimited.acquire("a", t0) == 0);
}
