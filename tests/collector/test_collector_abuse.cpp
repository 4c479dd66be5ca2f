// The real tk-collector under hostile load and partial failure (label `abuse`): floods with a
// bogus key, slow bodies, idle connections, too few file descriptors, a hung PostgreSQL. Each
// test says what memory and which answers the collector must keep.
#include <catch2/catch.hpp>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

using namespace tk::test;

namespace {

/// The documented bound (docs/collector.md, "Memory"): the collector's peak RSS with the
/// default settings, whatever the requests.
constexpr long kMemoryBoundKiB = 256 * 1024;

/// A field of /proc/PID/status in KiB (VmHWM: peak RSS, VmRSS: now); -1 if unreadable.
long status_kib(pid_t pid, const std::string& field) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return -1;
}

/// A protobuf Batch body of `bytes` bytes holding nothing but empty events (two bytes each):
/// the cheapest body to send and, parsed naively, the most expensive to hold.
std::string empty_events_body(std::size_t bytes) {
    std::string body;
    body.reserve(bytes);
    while (body.size() + 2 <= bytes) body += std::string("\x0a\x00", 2);
    return body;
}

/// Posts `body` from `count` threads at once; returns the statuses, sorted.
std::multiset<unsigned> post_concurrently(unsigned short port, const std::string& key, const std::string& body,
                                          int count) {
    std::multiset<unsigned> statuses;
    std::mutex mutex;
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
        threads.emplace_back([&] {
            const auto response = post_batch(port, key, body);
            std::lock_guard lock(mutex);
            statuses.insert(response.status);
        });
    }
    for (auto& thread : threads) thread.join();
    return statuses;
}

std::string describe(const std::multiset<unsigned>& statuses) {
    std::map<unsigned, int> counts;
    for (const unsigned status : statuses) ++counts[status];
    std::string text;
    for (const auto& [status, count] : counts) text += std::to_string(status) + "x" + std::to_string(count) + " ";
    return text;
}

}  // namespace

TEST_CASE("a flood of 4 MiB bodies of empty events, with a bogus key and then a valid one, stays under the memory bound") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const std::string body = empty_events_body(4 << 20);
    const pid_t pid = collector.process()->pid();

    // Bogus key: refused without the body being parsed. 401, or 503 once the bodies buffered at
    // once reach their bound.
    const auto bogus = post_concurrently(collector.port(), "tk_bogus-key-bogus-key-bogus-key-bogus-key-bogu", body, 12);
    INFO("bogus key: " << describe(bogus));
    for (const unsigned status : bogus) CHECK((status == 401 || status == 503));
    CHECK(bogus.count(401) >= 1);
    // Valid key: the events are counted from the wire bytes, so 2 million of them are refused
    // (400, too many) without being materialised.
    const auto valid = post_concurrently(collector.port(), key, body, 12);
    INFO("valid key: " << describe(valid));
    for (const unsigned status : valid) CHECK((status == 400 || status == 503));
    CHECK(valid.count(400) >= 1);

    // Still serving.
    const auto fine = post_batch(collector.port(), key, make_batch("my-cli", 10));
    REQUIRE(fine.status == 200);
    CHECK(parse_ack(fine).accepted_size() == 10);

    const long peak_kib = status_kib(pid, "VmHWM");
    std::printf("bogus-key flood: peak RSS (VmHWM) %ld KiB = %.1f MiB, bound %ld MiB\n", peak_kib, peak_kib / 1024.0,
                kMemoryBoundKiB / 1024);
    CHECK(peak_kib > 0);
    CHECK(peak_kib < kMemoryBoundKiB);
}
