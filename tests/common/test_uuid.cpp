#include <catch2/catch.hpp>

#include <chrono>
#include <unordered_set>

#include "tk/common/hex.hpp"
#include "tk/common/uuid.hpp"

namespace {
struct UuidHash {
    std::size_t operator()(const tk::Uuid& id) const {
        std::size_t h = 0;
        for (auto b : id) h = h * 131 + b;
        return h;
    }
};
}  // namespace

TEST_CASE("UUIDv7 has version 7 and the RFC 4122 variant") {
    for (int i = 0; i < 1000; ++i) {
        const tk::Uuid id = tk::uuid_v7();
        REQUIRE((id[6] >> 4) == 7);
        REQUIRE((id[8] & 0xc0) == 0x80);
    }
}

TEST_CASE("UUIDv7 carries the current Unix time in milliseconds") {
    using namespace std::chrono;
    const auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    const tk::Uuid id = tk::uuid_v7();
    const auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    const auto ms = static_cast<long long>(tk::uuid_v7_unix_ms(id));
    CHECK(ms >= before);
    CHECK(ms <= after + 1);
}

TEST_CASE("UUIDv7s made within one millisecond are strictly increasing") {
    tk::UuidV7Generator generator;
    tk::Uuid previous = generator.next_at(1'700'000'000'000);
    for (int i = 0; i < 10000; ++i) {  // far more than the 12-bit counter holds
        const tk::Uuid id = generator.next_at(1'700'000'000'000);
        REQUIRE(previous < id);
        previous = id;
    }
}

TEST_CASE("UUIDv7s stay ordered when the clock steps back") {
    tk::UuidV7Generator generator;
    const tk::Uuid a = generator.next_at(1'700'000'000'500);
    const tk::Uuid b = generator.next_at(1'700'000'000'000);
    CHECK(a < b);
}

TEST_CASE("10^6 UUIDv7s are unique and ordered") {
    std::unordered_set<tk::Uuid, UuidHash> seen;
    seen.reserve(1'000'000);
    tk::Uuid previous{};
    for (int i = 0; i < 1'000'000; ++i) {
        const tk::Uuid id = tk::uuid_v7();
        REQUIRE(previous < id);
        previous = id;
        seen.insert(id);
    }
    CHECK(seen.size() == 1'000'000);
}

TEST_CASE("UUID text form round-trips") {
    const tk::Uuid id = tk::uuid_v7();
    const std::string text = tk::to_string(id);
    REQUIRE(text.size() == 36);
    CHECK(text[14] == '7');
    const auto parsed = tk::parse_uuid(text);
    REQUIRE(parsed);
    CHECK(*parsed == id);
    CHECK(tk::uuid_bytes_to_string(tk::to_bytes(id)) == text);
    CHECK_FALSE(tk::parse_uuid("not-a-uuid"));
    CHECK_FALSE(tk::parse_uuid("0189d9c0-0000-7000-8000-00000000000g"));
    CHECK(tk::uuid_bytes_to_string("short").empty());
}

TEST_CASE("uuid_v7_floor: the smallest id of a millisecond, below every id made before it") {
    tk::UuidV7Generator generator;
    const tk::Uuid before = generator.next_at(1'700'000'000'000);
    const tk::Uuid at = generator.next_at(1'700'000'000'001);
    const std::string floor = tk::uuid_v7_floor(1'700'000'000'001);
    REQUIRE(floor.size() == 16);
    CHECK(tk::uuid_v7_unix_ms(floor) == 1'700'000'000'001);
    CHECK(tk::to_bytes(before) < floor);
    CHECK(floor <= tk::to_bytes(at));
    CHECK(tk::uuid_bytes_to_string(floor) == "018bcfe5-6801-0000-0000-000000000000");
    CHECK(tk::uuid_v7_floor(-5) == std::string(16, '\0'));  // before 1970: the smallest id of all
}

TEST_CASE("hex: two lower-case digits a byte, digit values in either case") {
    CHECK(tk::to_hex(std::string("\x00\x0f\xa5\xff", 4)) == "000fa5ff");
    CHECK(tk::to_hex("") == "");
    CHECK(tk::hex_digit_value('0') == 0);
    CHECK(tk::hex_digit_value('9') == 9);
    CHECK(tk::hex_digit_value('a') == 10);
    CHECK(tk::hex_digit_value('F') == 15);
    CHECK(tk::hex_digit_value('g') == -1);
    CHECK(tk::hex_digit_value('/') == -1);
}
