#pragma once
/// A map of at most `capacity` entries that forgets the least recently used one to make room.
/// Not thread-safe (its owners lock). Used where a flood of made-up keys must neither grow
/// memory nor wipe what is worth keeping: the key cache and the rate limiter's buckets.

#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

namespace tk::collector {

template <class Key, class Value>
class LruMap {
public:
    explicit LruMap(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    /// The entry for `key`, now the most recently used; nullptr if absent.
    Value* find(const Key& key) {
        const auto it = index_.find(key);
        if (it == index_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return &it->second->second;
    }

    /// Sets `key` to `value` (most recently used), evicting the least recently used entry if full.
    Value& put(const Key& key, Value value) {
        if (Value* existing = find(key)) return *existing = std::move(value);
        if (index_.size() >= capacity_) {
            index_.erase(order_.back().first);
            order_.pop_back();
        }
        order_.emplace_front(key, std::move(value));
        index_.emplace(key, order_.begin());
        return order_.front().second;
    }

    void erase(const Key& key) {
        const auto it = index_.find(key);
        if (it == index_.end()) return;
        order_.erase(it->second);
        index_.erase(it);
    }

    std::size_t size() const { return index_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    using Order = std::list<std::pair<Key, Value>>;
    std::size_t capacity_;
    Order order_;  // most recently used first
    std::unordered_map<Key, typename Order::iterator> index_;
};

}  // namespace tk::collector
