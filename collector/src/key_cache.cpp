// What the collector remembers of looked-up ingest keys (key_cache.hpp): bounded, LRU.
#include "tk/collector/key_cache.hpp"

namespace tk::collector {

std::optional<KeyCache::Known> KeyCache::find(const std::string& key_hash, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (Entry* entry = valid_.find(key_hash)) {
        if (entry->expires > now) return Known{true, entry->tool};
        valid_.erase(key_hash);
    }
    if (Entry* entry = unknown_.find(key_hash)) {
        if (entry->expires > now) return Known{false, {}};
        unknown_.erase(key_hash);
    }
    return std::nullopt;
}

void KeyCache::remember_valid(const std::string& key_hash, std::string tool, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    unknown_.erase(key_hash);
    valid_.put(key_hash, Entry{std::move(tool), now + settings_.valid_ttl});
}

void KeyCache::remember_unknown(const std::string& key_hash, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    valid_.erase(key_hash);
    unknown_.put(key_hash, Entry{{}, now + settings_.unknown_ttl});
}

}  // namespace tk::collector
