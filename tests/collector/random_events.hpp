#pragma once
// Random but reproducible events for the rollup and query tests: every dimension varies, times
// spread over the last 72 hours, durations over six orders of magnitude.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

namespace tk::test {

/// A UUIDv7 whose time is `ms`, with random bits from `rng`.
inline std::string id_at(std::int64_t ms, std::mt19937_64& rng) {
    std::string id(16, '\0');
    for (int i = 0; i < 6; ++i) id[i] = static_cast<char>((ms >> (8 * (5 - i))) & 0xff);
    const std::uint64_t a = rng();
    const std::uint64_t b = rng();
    for (int i = 6; i < 16; ++i) id[i] = static_cast<char>(((i < 11 ? a : b) >> (8 * (i % 8))) & 0xff);
    id[6] = static_cast<char>(0x70 | (id[6] & 0x0f));
    id[8] = static_cast<char>(0x80 | (id[8] & 0x3f));
    return id;
}

/// `count` events of `tool` spread over the last 72 hours, from 40 installs, with every dimension
/// varying and durations spread over six orders of magnitude.
inline std::vector<Event> random_events(const std::string& tool, int count, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto pick = [&](std::initializer_list<const char*> options) {
        return std::string(*(options.begin() + rng() % options.size()));
    };
    const std::int64_t now_ms = static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7()));
    std::vector<Event> events;
    for (int i = 0; i < count; ++i) {
        Event event =
            make_event(tool, pick({"build", "test", "run", "deploy", "lint"}), "install-" + std::to_string(rng() % 40));
        const std::int64_t ms = now_ms - static_cast<std::int64_t>(rng() % (72ull * 3'600'000));
        event.set_id(id_at(ms, rng));
        event.set_timestamp_unix_ms(ms);
        event.set_tool_version(pick({"1.0.0", "1.1.0", "2.0.0"}));
        event.set_os(pick({"linux", "macos", ""}));
        event.set_os_version(event.os() == "linux" ? pick({"debian 12", "ubuntu 24"}) : "");
        event.set_arch(pick({"x86_64", "arm64"}));
        event.set_ci(rng() % 5 == 0);
        switch (rng() % 3) {
            case 0: event.set_success(true); break;
            case 1: event.set_success(false); break;
            default: event.clear_success();
        }
        if (rng() % 4 == 0) {
            event.clear_duration_us();
        } else {
            event.set_duration_us(
                static_cast<std::int64_t>(std::pow(10.0, static_cast<double>(rng() % 6000) / 1000.0)));
        }
        if (rng() % 10 == 0) event.set_kind(telemetry_kit::v1::EVENT_KIND_FEATURE);
        switch (rng() % 4) {  // exit codes: none, 0, or a failure's
            case 0: event.clear_exit_code(); break;
            case 1: event.set_exit_code(static_cast<std::int32_t>(rng() % 3) + 1); break;
            default: event.set_exit_code(0);
        }
        events.push_back(event);
    }
    return events;
}

inline void post_all(const CollectorFixture& collector, const std::string& key, const std::vector<Event>& events,
                     std::size_t per_batch) {
    for (std::size_t start = 0; start < events.size(); start += per_batch) {
        Batch batch;
        for (std::size_t i = start; i < std::min(events.size(), start + per_batch); ++i)
            *batch.add_events() = events[i];
        REQUIRE(post_batch(collector.port(), key, batch).status == 200);
    }
}

}  // namespace tk::test
