#pragma once
// The browser test's and the dashboard benchmark's events: a plausible tool over 8 weeks.

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "collector/batch_helpers.hpp"
#include "tk/common/uuid.hpp"

namespace tk::test {

/// `count` events of `installs` installs of a plausible tool, "demo-cli", so the page (and its
/// screenshot) shows what a tool author would see: installs arriving over time, new versions taking over, commands and
/// features of different weights, some failures with exit codes, some CI. Reproducible (from `seed`); spread over the
/// 8 weeks before now, about half inside the page's "Last 30 days".
inline std::vector<Event> dashboard_events(int count, int installs, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    tk::UuidV7Generator ids;
    const auto uniform = [&] { return static_cast<double>(rng() % 1'000'000) / 1e6; };
    const auto weighted = [&](std::initializer_list<std::pair<const char*, double>> options) {
        double pick = uniform() * std::accumulate(options.begin(), options.end(), 0.0,
                                                  [](double sum, const auto& o) { return sum + o.second; });
        for (const auto& [name, weight] : options) {
            if ((pick -= weight) < 0) return std::string(name);
        }
        return std::string(options.begin()->first);
    };
    const std::int64_t now_ms = static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7()));
    constexpr std::int64_t kDay = 86'400'000;
    std::vector<Event> events;
    for (int i = 0; i < count; ++i) {
        const int install = static_cast<int>(rng() % static_cast<std::uint64_t>(installs));
        // Install n is first used n/installs of the way through 8 weeks (a growing user base, so the
        // page's previous period has data to compare with); every third one stops within 10 days.
        const double first_use = 56.0 * (1.0 - static_cast<double>(install) / installs);  // days before now
        const double day = first_use - uniform() * (install % 3 == 0 ? std::min(first_use, 10.0) : first_use);
        const std::int64_t ms = now_ms - static_cast<std::int64_t>(day * static_cast<double>(kDay)) + 60'000;
        const bool feature = uniform() < 0.18;
        Event event =
            make_event("demo-cli",
                       feature ? weighted({{"cache", 5}, {"watch", 3}, {"remote", 2}, {"plugins", 1}})
                               : weighted({{"build", 40}, {"test", 25}, {"run", 15}, {"deploy", 8}, {"lint", 12}}),
                       fmt::format("install-{:03}", install));
        event.set_timestamp_unix_ms(ms);
        event.set_kind(feature ? telemetry_kit::v1::EVENT_KIND_FEATURE : telemetry_kit::v1::EVENT_KIND_COMMAND);
        // 1.4.0 from day 21 before now, 2.0.0 from day 9: the newer a release, the more have it.
        const double newest = uniform();
        event.set_tool_version(day < 9 && newest < 0.6 ? "2.0.0" : day < 21 && newest < 0.75 ? "1.4.0" : "1.3.2");
        event.set_os(install % 10 < 6 ? "linux" : install % 10 < 9 ? "macos" : "windows");
        event.set_os_version(event.os() == "linux" ? (install % 2 ? "debian 12" : "ubuntu 24.04") : "");
        event.set_arch(install % 4 == 0 ? "arm64" : "x86_64");
        event.set_ci(install % 6 == 0);
        const bool failed = uniform() < (event.name() == "deploy" ? 0.2 : event.name() == "test" ? 0.12 : 0.04);
        event.set_success(!failed);
        event.set_exit_code(failed ? std::array{1, 1, 2, 101}[rng() % 4] : 0);
        const double typical_ms = event.name() == "build"    ? 2400
                                  : event.name() == "test"   ? 5200
                                  : event.name() == "deploy" ? 9000
                                                             : 300;
        event.set_duration_us(static_cast<std::int64_t>(typical_ms * 1000 * std::exp((uniform() - 0.5) * 1.6)));
        events.push_back(event);
    }
    // Ids carry the event's time (UUIDv7); the generator keeps them increasing, so in time order.
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.timestamp_unix_ms() < b.timestamp_unix_ms(); });
    for (auto& event : events)
        event.set_id(tk::to_bytes(ids.next_at(static_cast<std::uint64_t>(event.timestamp_unix_ms()))));
    return events;
}

}  // namespace tk::test
