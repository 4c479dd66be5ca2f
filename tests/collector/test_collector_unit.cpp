// The collector's pure parts: per-event validation, COPY/JSON escaping, the rate limiter.
#include <catch2/catch.hpp>

#include "tk/common/json.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <malloc.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "tk/collector/batch_scan.hpp"
#include "tk/collector/ingest.hpp"
#include "tk/collector/key_cache.hpp"
#include "tk/collector/lru_map.hpp"
#include "tk/collector/rate_limiter.hpp"
#include "tk/common/uuid.hpp"
#include "../../collector/src/manifest_route.hpp"

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

std::string make_ordinary_batch(int events) {
    telemetry_kit::v1::Batch batch;
    for (int i = 0; i < events; ++i) {
        Event event = valid_event();
        event.set_tool_version("1.2.3");
        event.set_anonymous_id("a1b2c3d4e5f60718");
        event.set_timestamp_unix_ms(1700000000000);
        event.set_success(true);
        (*event.mutable_attributes())["cache"].set_string_value("hit");
        (*event.mutable_attributes())["jobs"].set_int_value(8);
        *batch.add_events() = event;
    }
    return batch.SerializeAsString();
}
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
    CHECK(reason([](Event& e) { e.set_kind(static_cast<telemetry_kit::v1::EventKind>(40000)); }) ==
          "kind out of range");
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

namespace {

/// Heap bytes in use now (glibc's own count: what parsing really allocates).
std::size_t heap_in_use() { return mallinfo2().uordblks; }

/// Parses `wire` and returns how much heap the parsed Batch holds.
std::size_t parsed_heap(const std::string& wire) {
    const std::size_t before = heap_in_use();
    auto batch = std::make_unique<telemetry_kit::v1::Batch>();
    REQUIRE(batch->ParseFromString(wire));
    return heap_in_use() - before;
}

std::string repeat(const std::string& piece, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += piece;
    return out;
}

std::string field(int number, const std::string& payload) {  // a length-delimited field
    std::string out;
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag(static_cast<std::uint32_t>(number << 3 | 2));
    coded.WriteVarint32(static_cast<std::uint32_t>(payload.size()));
    coded.WriteString(payload);
    coded.Trim();
    return out;
}

}  // namespace

TEST_CASE("scan_batch counts events from the wire bytes and never underestimates the parsed size") {
    BatchShape shape;
    // Shapes an attacker would pick: empty events, tiny distinct attributes, unknown fields of
    // each kind, long strings; and an ordinary batch.
    std::string tiny_attributes;
    for (int i = 0; i < 20000; ++i) tiny_attributes += field(7, field(1, std::to_string(i)) + field(2, ""));
    std::string strings_attribute;
    for (int i = 0; i < 2000; ++i)
        strings_attribute += field(7, field(1, "k" + std::to_string(i)) + field(2, field(1, std::string(40, 'v'))));
    const std::vector<std::pair<const char*, std::string>> bodies = {
        {"empty events", repeat(std::string("\x0a\x00", 2), 5000)},
        {"tiny attributes", field(1, tiny_attributes)},
        {"string attributes", field(1, strings_attribute)},
        {"unknown varints in events", repeat(field(1, repeat(std::string("\xf8\x01\x01", 3), 500)), 40)},
        {"unknown strings in events", repeat(field(1, repeat(field(99, "x"), 300)), 40)},
        {"unknown varints at the top", repeat(std::string("\x10\x01", 2), 20000)},
        {"long strings", repeat(field(1, field(5, std::string(3000, 'n'))), 300)},
        {"an ordinary batch", make_ordinary_batch(500)},
    };
    for (const auto& [what, wire] : bodies) {
        INFO(what);
        REQUIRE(!scan_batch(wire, 100000, shape));
        const std::size_t real = parsed_heap(wire);
        INFO("estimate " << shape.parsed_bytes << " real " << real << " wire " << wire.size());
        CHECK(shape.parsed_bytes >= real);
        CHECK(shape.parsed_bytes <= 8 * real + 4096);  // an estimate, not a wild guess
    }
    REQUIRE(!scan_batch(make_ordinary_batch(500), 500, shape));
    CHECK(shape.events == 500);

    // More events than allowed: refused as soon as they are counted.
    const auto too_many = scan_batch(repeat(std::string("\x0a\x00", 2), 2'000'000), 5000, shape);
    REQUIRE(too_many);
    CHECK(too_many->find("too many events") != std::string::npos);
    // Malformed: truncated, a length past the end, a group, field number 0.
    for (const std::string& bad : {std::string("\x0a\x05\x01", 3), std::string("\x0a\xff\xff\xff\xff\x0f", 6),
                                   std::string("\x0b\x0c", 2), std::string("\x02\x00", 2), std::string("\x0a", 1)}) {
        CHECK(scan_batch(bad, 5000, shape));
    }
    CHECK(!scan_batch("", 5000, shape));

    // JSON goes through the same walk after conversion.
    std::string wire;
    REQUIRE(!batch_json_to_wire(R"({"events":[{"name":"a"},{"name":"b"}]})", wire));
    REQUIRE(!scan_batch(wire, 10, shape));
    CHECK(shape.events == 2);
    CHECK(batch_json_to_wire("{\"events\":[", wire));
}

TEST_CASE("LruMap forgets the least recently used entry, not everything") {
    LruMap<int, int> map(3);
    map.put(1, 10);
    map.put(2, 20);
    map.put(3, 30);
    REQUIRE(map.find(1));  // 1 is now the most recent
    map.put(4, 40);        // evicts 2
    CHECK(map.find(2) == nullptr);
    CHECK(*map.find(1) == 10);
    CHECK(*map.find(3) == 30);
    CHECK(*map.find(4) == 40);
    CHECK(map.size() == 3);
    map.put(3, 31);
    CHECK(*map.find(3) == 31);
    map.erase(3);
    CHECK(map.find(3) == nullptr);
    CHECK(map.size() == 2);
}

TEST_CASE("KeyCache: valid and unknown keys expire, and made-up keys cannot push valid ones out") {
    using namespace std::chrono_literals;
    KeyCache::Settings settings;
    settings.valid_capacity = 2;
    settings.unknown_capacity = 2;
    settings.valid_ttl = 60s;
    settings.unknown_ttl = 10s;
    KeyCache cache(settings);
    const auto t0 = KeyCache::Clock::time_point{} + 1000s;
    CHECK(!cache.find("k1", t0));
    cache.remember_valid("k1", "my-cli", t0);
    for (int i = 0; i < 100; ++i) cache.remember_unknown("bogus" + std::to_string(i), t0);
    REQUIRE(cache.find("k1", t0));
    CHECK(cache.find("k1", t0)->valid);
    CHECK(cache.find("k1", t0)->tool == "my-cli");
    REQUIRE(cache.find("bogus99", t0));
    CHECK(!cache.find("bogus99", t0)->valid);
    CHECK(!cache.find("bogus0", t0));  // evicted
    CHECK(!cache.find("bogus99", t0 + 11s));
    CHECK(cache.find("k1", t0 + 59s));
    CHECK(!cache.find("k1", t0 + 61s));
}

TEST_CASE("the rate limiter forgets the least recently used bucket, so made-up names cannot refill a drained one") {
    RateLimiter limiter(1.0, 2.0, /*capacity=*/100);
    const auto t0 = RateLimiter::Clock::now();
    CHECK(limiter.acquire("abuser", t0) == 0);
    CHECK(limiter.acquire("abuser", t0) == 0);
    CHECK(limiter.acquire("abuser", t0) >= 1);  // drained
    // 99 other names fill the rest of the room; the drained bucket is the oldest but still kept...
    for (int i = 0; i < 99; ++i) CHECK(limiter.acquire("name" + std::to_string(i), t0) == 0);
    CHECK(limiter.acquire("abuser", t0) >= 1);
    // ...and being used keeps it from being the one forgotten (the old limiter cleared all of
    // them once 10,000 names were seen).
    for (int i = 99; i < 300; ++i) {
        CHECK(limiter.acquire("name" + std::to_string(i), t0) == 0);
        CHECK(limiter.acquire("abuser", t0) >= 1);
    }
    // It refills with time as usual.
    CHECK(limiter.acquire("abuser", t0 + std::chrono::seconds(2)) == 0);
}

TEST_CASE("partitions are only made inside the retention window, whatever the id times asked for") {
    constexpr std::int64_t kDay = 86'400'000;
    const std::int64_t now = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
    const auto months = partition_months(
        {now, now + 31 * kDay, now - 20 * kDay, now - 400 * kDay, now + 400 * kDay, 0, 253'402'300'799'999},
        /*retention_days=*/30, now);
    // 2026-01, 2026-02 and 2025-12 (within 30 days back); not a year back, a year ahead, 1970 or 9999.
    CHECK(months == std::set<int>{2026 * 12 + 0, 2026 * 12 + 1, 2025 * 12 + 11});
    // Retention 0 keeps everything back, but nothing far ahead.
    CHECK(partition_months({0, now + 400 * kDay}, 0, now) == std::set<int>{1970 * 12 + 0});
}

TEST_CASE("rollup deltas: one row per key, only what was stored, install days from the id time") {
    CHECK(detail::duration_bucket(-5) == 0);
    CHECK(detail::duration_bucket(0) == 0);
    CHECK(detail::duration_bucket(1) == 1);
    CHECK(detail::duration_bucket(3) == 13);
    CHECK(detail::duration_bucket(1000) == 80);  // the values tk_duration_bucket() gives (test_rollups)
    CHECK(detail::duration_bucket(1023) == 80);
    CHECK(detail::duration_bucket(1024) == 81);

    const std::int64_t day_ms = 20'000LL * 86'400'000;  // 2024-10-04, a UTC midnight
    const auto at = [](std::int64_t ms, const std::string& name, const std::string& install) {
        Event event = valid_event();
        std::string id = event.id();
        for (int i = 0; i < 6; ++i) id[i] = static_cast<char>((ms >> (8 * (5 - i))) & 0xff);
        event.set_id(id);
        event.set_name(name);
        event.set_anonymous_id(install);
        event.set_duration_us(1000);
        event.set_success(true);
        return event;
    };
    const std::vector<Event> events = {at(day_ms + 10, "build", "a"), at(day_ms + 20, "build", "a"),
                                       at(day_ms + 3'600'000, "build", "b"),
                                       at(day_ms + 86'400'000, "te\"st,{}\\", "a"), at(day_ms + 30, "build", "")};
    std::vector<const Event*> stored;
    for (const auto& event : events) stored.push_back(&event);
    const auto delta = detail::rollup_delta(stored);
    CHECK(delta.hourly.size() == 3);  // two hours of build, one of the other name
    CHECK(delta.hourly.begin()->second == 3);
    CHECK(delta.durations.size() == 3);
    CHECK(delta.days.size() == 3);  // (day, a), (day, b), (day + 1, a); the event without install has none
    REQUIRE(delta.installs.size() == 2);
    CHECK(delta.installs.at("a") == std::pair<std::int64_t, std::int64_t>(20'000, 20'001));
    CHECK(delta.daily_names.size() == 2);
    CHECK(delta.daily_platform.size() == 2);
    CHECK(delta.daily_durations.size() == 2);

    const auto params = detail::rollup_params("my-cli", delta);
    REQUIRE(params.size() == 49);  // $1-$36 as before, $37-$49 migration 008's tables
    CHECK(params[0] == "my-cli");
    CHECK(params[1] == "{1728000000,1728003600,1728086400}");
    CHECK(params[4] == "{\"build\",\"build\",\"te\\\"st,{}\\\\\"}");  // quoted, quote and backslash escaped
    CHECK(params[10] == "{3,1,1}");
    CHECK(params[17] == "{\"a\",\"b\"}");
    CHECK(params[20] == "{20000,20001}");  // daily names: (day, build), (next day, the other name)
    CHECK(params[24] == "{4,1}");
    CHECK(params[25] == "{20000,20001}");  // daily platform: one combination a day
    CHECK(params[35] == "{4,1}");          // daily durations: one bucket a day
    CHECK(detail::rollup_params("my-cli", detail::RollupDelta{})[1] == "{}");
}

TEST_CASE("append_copy_row: one event as one COPY line, in kCopyStaging's column order") {
    Event event = valid_event();
    event.set_tool_version("1.0\t2");
    event.set_anonymous_id("anon");
    event.set_os("linux");
    event.set_arch("x86_64");
    std::string row;
    detail::append_copy_row(row, event);
    REQUIRE(!row.empty());
    CHECK(row.back() == '\n');
    CHECK(std::count(row.begin(), row.end(), '\n') == 1);  // escaping keeps the row on one line
    std::vector<std::string> columns;
    std::string_view rest(row.data(), row.size() - 1);
    for (std::size_t tab; (tab = rest.find('\t')) != std::string_view::npos; rest.remove_prefix(tab + 1)) {
        columns.emplace_back(rest.substr(0, tab));
    }
    columns.emplace_back(rest);
    REQUIRE(columns.size() == 19);
    const auto id_ms = std::to_string(tk::uuid_v7_unix_ms(event.id()));
    CHECK(columns[0] == tk::uuid_bytes_to_string(event.id()));
    CHECK(columns[1] == id_ms);
    CHECK(columns[2] == "my-cli");
    CHECK(columns[3] == "1.0\\t2");  // the tab inside a value is escaped, not a column break
    CHECK(columns[5] == "build");
    CHECK(columns[6] == id_ms);  // no timestamp: the id's time
    CHECK(columns[7] == "anon");
    CHECK(columns[8] == "{}");
    CHECK(columns[9] == "\\N");   // success unset
    CHECK(columns[10] == "\\N");  // duration unset
    CHECK(columns[11] == "\\N");  // exit code unset
    CHECK(columns[12] == "f");    // not CI
    CHECK(columns[13] == "linux");
    CHECK(columns[15] == "x86_64");
    CHECK(columns[17] == "0");  // no manifest version
    CHECK(columns[18] == "1");  // not sampled: counts once

    SECTION("set optional fields are written, false and zero included") {
        event.set_success(false);
        event.set_duration_us(0);
        event.set_exit_code(2);
        event.set_ci(true);
        event.set_timestamp_unix_ms(1700000000000);
        std::string again;
        detail::append_copy_row(again, event);
        CHECK(again.find("\t1700000000000\tanon\t{}\tf\t0\t2\tt\tlinux\t") != std::string::npos);
    }
}

TEST_CASE("the manifest cache: served for 5 s, then asked again, and at most 4,096 tools") {
    using tk::collector::detail::ManifestCache;
    ManifestCache cache;  // the collector's own bound and lifetime
    const auto t0 = ManifestCache::Clock::now();
    const auto entry = [t0](unsigned version) {
        ManifestCache::Entry e;
        e.found = true;
        e.etag = "\"v" + std::to_string(version) + "\"";
        e.loaded = t0;
        return e;
    };
    cache.put("mtool", entry(1));
    REQUIRE(cache.find("mtool", t0 + std::chrono::milliseconds(4999)));
    CHECK(cache.find("mtool", t0 + std::chrono::milliseconds(4999))->etag == "\"v1\"");
    // After the lifetime the route asks the database, so a new version is visible.
    CHECK_FALSE(cache.find("mtool", t0 + std::chrono::seconds(5)));

    for (unsigned i = 0; i < ManifestCache::kCapacity + 100; ++i) cache.put("tool" + std::to_string(i), entry(1));
    CHECK(cache.size() == ManifestCache::kCapacity);
    CHECK(ManifestCache::kCapacity == 4096);
    CHECK_FALSE(cache.find("mtool", t0));  // the least recently used went first
    CHECK_FALSE(cache.find("tool99", t0));
    CHECK(cache.find("tool100", t0));
    CHECK(cache.find("tool" + std::to_string(ManifestCache::kCapacity + 99), t0));

    ManifestCache small(2, std::chrono::milliseconds(10));  // injectable, as the route's tests may need
    small.put("a", entry(1));
    small.put("b", entry(1));
    small.put("c", entry(1));
    CHECK(small.size() == 2);
    CHECK_FALSE(small.find("a", t0));
    CHECK(small.find("c", t0 + std::chrono::milliseconds(9)));
    CHECK_FALSE(small.find("c", t0 + std::chrono::milliseconds(10)));
}
