// The retry policy: full-jitter bounds, the cap, and Retry-After in both of its forms.
#include <catch2/catch.hpp>

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

TEST_CASE("the next delay honours Retry-After up to the cap, else jitters") {
    std::mt19937_64 rng(7);
    CHECK(backoff::next_delay(1, 5000ms, 1000ms, 300s, rng) == 5000ms);
    CHECK(backoff::next_delay(1, milliseconds(3600s), 1000ms, 300s, rng) == milliseconds(300s));
    for (int i = 0; i < 100; ++i) {
        const auto d = backoff::next_delay(3, std::nullopt, 1000ms, 300s, rng);
        CHECK(d <= 4000ms);
    }
}
