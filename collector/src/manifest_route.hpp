#pragma once
// GET /v1/tools/{tool}/manifest and .../manifest/history (docs/collector.md): public by design,
// so bounded another way: the served manifest is cached in memory for a few seconds (a change
// reaches every collector within that), and what the cache cannot answer costs the client
// address a lookup token, as an unknown ingest key does.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "tk/collector/lru_map.hpp"

namespace tk::collector::detail {

/// The newest manifest per tool as served (or that there is none), for a short while.
class ManifestCache {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kFresh{5};
    static constexpr std::size_t kCapacity = 4096;

    struct Entry {
        bool found = false;
        std::string etag;  ///< "v<version>", quoted
        std::string body;
        Clock::time_point loaded;
    };

    /// At most `capacity` tools (the least recently used go first), each for `fresh` after it was loaded.
    explicit ManifestCache(std::size_t capacity = kCapacity, Clock::duration fresh = kFresh)
        : fresh_(fresh), entries_(capacity) {}

    /// The entry for `tool` if loaded less than the lifetime (kFresh) ago.
    std::optional<Entry> find(const std::string& tool, Clock::time_point now = Clock::now());
    void put(const std::string& tool, Entry entry);
    /// How many tools it holds (at most its capacity).
    std::size_t size();

private:
    std::mutex mutex_;
    Clock::duration fresh_;
    LruMap<std::string, Entry> entries_;
};

}  // namespace tk::collector::detail
