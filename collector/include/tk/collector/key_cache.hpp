#pragma once
/// What the collector remembers of ingest keys it has looked up, so that a request with a key
/// known to be bogus is refused before its body is parsed or the database is asked. Bounded
/// (least recently used entries go first), with separate room for valid and unknown keys so a
/// flood of made-up keys cannot push the valid ones out. Thread-safe; the clock is a parameter.
///
/// The cache only ever refuses early or saves a lookup: storing a batch still checks its key in
/// the same transaction, so a revoked key's batches are refused from the next request on.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "tk/collector/lru_map.hpp"

namespace tk::collector {

class KeyCache {
public:
    using Clock = std::chrono::steady_clock;

    struct Settings {
        std::size_t valid_capacity = 10000;
        std::size_t unknown_capacity = 10000;
        std::chrono::seconds valid_ttl{60};
        std::chrono::seconds unknown_ttl{10};  ///< a key made just after a miss works this much later
    };

    /// What the cache knows of a key hash.
    struct Known {
        bool valid = false;
        std::string tool;  ///< for a valid key
    };

    explicit KeyCache(Settings settings)
        : settings_(settings), valid_(settings.valid_capacity), unknown_(settings.unknown_capacity) {}

    /// The entry for `key_hash` if it has not expired; nullopt: ask the database.
    std::optional<Known> find(const std::string& key_hash, Clock::time_point now = Clock::now());
    void remember_valid(const std::string& key_hash, std::string tool, Clock::time_point now = Clock::now());
    void remember_unknown(const std::string& key_hash, Clock::time_point now = Clock::now());

private:
    struct Entry {
        std::string tool;
        Clock::time_point expires;
    };
    Settings settings_;
    std::mutex mutex_;
    LruMap<std::string, Entry> valid_;
    LruMap<std::string, Entry> unknown_;
};

}  // namespace tk::collector
