// The retry policy: full-jitter bounds, the cap, and Retry-After in both of its forms.
#include <catch2/catch.hpp>

#include <set>

#include "tk/agent/backoff.hpp"

using namespace std::chrono_literals;
using std::chrono::milliseconds;
namespace backoff = tk::agent::backoff;

namespace {
std::chrono::system_clock::time_point at_unix(std::int64_t seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}
}  // namespace

TEST_CASE("backoff ceiling doubles per failure and stops at the cap") {
    CHECK(backoff::ceiling(1, 1000ms, 300s) == 1000ms);
    CHECK(backoff::ceiling(2, 1000ms, 300s) == 2000ms);
    CHECK(backoff::ceiling(5, 1000ms, 300s) == 16000ms);
    CHECK(backoff::ceiling(9, 1000ms, 300s) == 256000ms);
    CHECK(backoff::ceiling(10, 1000ms, 300s) == 300000ms);
    CHECK(backoff::ceiling(4000000000u, 1000ms, 300s) == 300000ms);  // no overflow, no endless loop
}

TEST_CASE("full jitter stays within [0, ceiling] and spreads over it") {
    std::mt19937_64 rng(42);
    for (unsigned failures = 1; failures <= 12; ++failures) {
        const milliseconds top = backoff::ceiling(failures, 1000ms, 60s);
        milliseconds lowest = top, highest = 0ms;
        for (int i = 0; i < 2000; ++i) {
            const milliseconds d = backoff::full_jitter(failures, 1000ms, 60s, rng);
            REQUIRE(d >= 0ms);
            REQUIRE(d <= top);
            lowest = std::min(lowest, d);
            highest = std::max(highest, d);
        }
        // Full jitter, not "equal jitter": the whole window is used.
        CHECK(lowest < top / 10);
        CHECK(highest > top * 9 / 10);
    }
}

TEST_CASE("Retry-After in seconds") {
    const auto now = at_unix(1'700'000'000);
    CHECK(backoff::parse_retry_after("0", now) == 0ms);
    CHECK(backoff::parse_retry_after("7", now) == 7000ms);
    CHECK(backoff::parse_retry_after("  120 ", now) == 120000ms);
    CHECK(backoff::parse_retry_after("99999999999999999999", now) == milliseconds(24h));
    CHECK_FALSE(backoff::parse_retry_after("", now));
    CHECK_FALSE(backoff::parse_retry_after("-5", now));
    CHECK_FALSE(backoff::parse_retry_after("1.5", now));
    CHECK_FALSE(backoff::parse_retry_after("soon", now));
}

TEST_CASE("Retry-After as an HTTP-date") {
    // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
    const auto now = at_unix(784111777 - 30);
    CHECK(backoff::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 30000ms);
    CHECK(backoff::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == 30000ms);
    CHECK(backoff::parse_retry_after("Sun Nov  6 08:49:37 1994", now) == 30000ms);
    // A date in the past means "now".
    CHECK(backoff::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at_unix(784111777 + 100)) == 0ms);
    // Leap-year arithmetic: Thu, 29 Feb 2024 12:00:00 GMT = 1709208000
    CHECK(backoff::parse_retry_after("Thu, 29 Feb 2024 12:00:00 GMT", at_unix(1709208000 - 1)) == 1000ms);
    CHECK_FALSE(backoff::parse_retry_after("Sun, 06 Nov 1994 08:49:37 CET", now));
    CHECK_FALSE(backoff::parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
    CHECK_FALSE(backoff::parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now));
    CHECK_FALSE(backoff::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT trailing", now));
}

TEST_CASE("the next delay honours Retry-After (floored, capped, jittered), else jitters") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 200; ++i) {
        const auto d = backoff::next_delay(1, 5000ms, 1000ms, 300s, rng);
        REQUIRE(d >= 5000ms);  // never sooner than asked
        REQUIRE(d <= 6000ms);  // at most 1 s (or a tenth) later
    }
    // Above max_backoff is still honoured, up to the Retry-After cap of one hour (+ a tenth).
    const auto long_wait = backoff::next_delay(1, milliseconds(1800s), 1000ms, 300s, rng);
    CHECK(long_wait >= milliseconds(1800s));
    CHECK(long_wait <= milliseconds(1980s));
    const auto capped = backoff::next_delay(1, milliseconds(24h), 1000ms, 300s, rng);
    CHECK(capped >= milliseconds(1h));
    CHECK(capped <= milliseconds(66min));
    for (int i = 0; i < 100; ++i) {
        const auto d = backoff::next_delay(3, std::nullopt, 1000ms, 300s, rng);
        CHECK(d <= 4000ms);
    }
}

TEST_CASE("Retry-After: 0 or a date in the past cannot make a tight loop") {
    std::mt19937_64 rng(1);
    const auto now = at_unix(1'700'000'000);
    for (const char* header : {"0", "Sun, 06 Nov 1994 08:49:37 GMT"}) {
        CAPTURE(header);
        const auto asked = backoff::parse_retry_after(header, now);
        REQUIRE(asked == 0ms);
        // Ten answers in a row: ten waits of at least a second each.
        milliseconds total{0};
        for (int i = 0; i < 10; ++i) {
            const auto d = backoff::next_delay(1, asked, 50ms, 300ms, rng);
            CHECK(d >= 1000ms);
            CHECK(d <= 2000ms);
            total += d;
        }
        CHECK(total >= 10s);
    }
}

TEST_CASE("Retry-After jitter spreads agents refused at the same moment") {
    // A thousand agents told "Retry-After: 60" at once, each with its own random source.
    std::set<std::int64_t> distinct_seconds;
    milliseconds lowest = milliseconds::max(), highest{0};
    for (std::uint64_t agent = 0; agent < 1000; ++agent) {
        std::mt19937_64 rng(agent);
        const auto d = backoff::retry_after_delay(60s, backoff::kRetryAfterFloor, backoff::kRetryAfterCap, rng);
        REQUIRE(d >= 60s);
        REQUIRE(d <= 66s);
        lowest = std::min(lowest, d);
        highest = std::max(highest, d);
        distinct_seconds.insert(d.count() / 1000);
    }
    CHECK(lowest < 60500ms);              // the window is used from its start...
    CHECK(highest > 65500ms);             // ...to its end,
    CHECK(distinct_seconds.size() == 6);  // not in lockstep: every second from 60 to 65 has some
}

TEST_CASE("Retry-After bounds with a fixed random source: exact values") {
    std::mt19937_64 a(123), b(123);
    CHECK(backoff::retry_after_delay(0ms, 1000ms, 1h, a) == backoff::retry_after_delay(0ms, 1000ms, 1h, b));
    std::mt19937_64 rng(5);
    // Floor and cap apply before the spread; a cap below the floor still leaves the floor.
    const auto tiny_cap = backoff::retry_after_delay(10s, 1000ms, 500ms, rng);
    CHECK(tiny_cap >= 1000ms);
    CHECK(tiny_cap <= 2000ms);
}
