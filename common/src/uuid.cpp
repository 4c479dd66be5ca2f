// UUIDv7 (uuid.hpp): a generator that stays strictly increasing within a millisecond and when the
// clock steps back, the text form, and the timestamp of an id.
#include "tk/common/uuid.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "tk/common/clock.hpp"
#include "tk/common/hex.hpp"

namespace tk {
namespace {

std::uint64_t os_random_seed() {
    std::uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
        std::random_device device;
        seed = (std::uint64_t{device()} << 32) ^ device();
    }
    return seed;
}

}  // namespace

UuidV7Generator::UuidV7Generator() : random_(os_random_seed()) {}

Uuid UuidV7Generator::next() { return next_at(static_cast<std::uint64_t>(now_unix_ms())); }

Uuid UuidV7Generator::next_at(std::uint64_t unix_ms) {
    if (unix_ms > last_ms_) {
        last_ms_ = unix_ms;
        // Start low in the counter space so a burst within one millisecond rarely overflows.
        counter_ = static_cast<std::uint32_t>(random_() & 0x1ff);
    } else if (++counter_ > 0xfff) {
        // Counter exhausted or clock went back: borrow the next millisecond to stay ordered.
        ++last_ms_;
        counter_ = 0;
    }
    const std::uint64_t rand_b = random_();
    Uuid id{};
    for (int i = 0; i < 6; ++i) id[i] = static_cast<std::uint8_t>(last_ms_ >> (8 * (5 - i)));
    id[6] = static_cast<std::uint8_t>(0x70 | ((counter_ >> 8) & 0x0f));
    id[7] = static_cast<std::uint8_t>(counter_ & 0xff);
    id[8] = static_cast<std::uint8_t>(0x80 | ((rand_b >> 56) & 0x3f));
    for (int i = 9; i < 16; ++i) id[i] = static_cast<std::uint8_t>(rand_b >> (8 * (15 - i)));
    return id;
}

Uuid uuid_v7() {
    thread_local UuidV7Generator generator;
    thread_local pid_t owner = getpid();
    if (const pid_t pid = getpid(); pid != owner) {  // forked: never share a random stream
        generator = UuidV7Generator();
        owner = pid;
    }
    return generator.next();
}

std::string to_string(const Uuid& id) {
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        append_hex_byte(out, id[i]);
    }
    return out;
}

std::string uuid_bytes_to_string(std::string_view bytes) {
    if (bytes.size() != 16) return {};
    Uuid id;
    std::memcpy(id.data(), bytes.data(), 16);
    return to_string(id);
}

std::optional<Uuid> parse_uuid(std::string_view text) {
    if (text.size() != 36) return std::nullopt;
    Uuid id{};
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return std::nullopt;
            ++i;
            continue;
        }
        const int hi = hex_digit_value(text[i]);
        const int lo = hex_digit_value(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        id[byte++] = static_cast<std::uint8_t>((hi << 4) | lo);
        i += 2;
    }
    return id;
}

std::uint64_t uuid_v7_unix_ms(const Uuid& id) {
    std::uint64_t ms = 0;
    for (int i = 0; i < 6; ++i) ms = (ms << 8) | id[i];
    return ms;
}

std::string uuid_v7_floor(std::int64_t unix_ms) {
    std::string id(16, '\0');
    const auto ms = static_cast<std::uint64_t>(std::max<std::int64_t>(unix_ms, 0));
    for (int i = 0; i < 6; ++i) id[static_cast<std::size_t>(i)] = static_cast<char>((ms >> (8 * (5 - i))) & 0xFF);
    return id;
}

std::int64_t uuid_v7_unix_ms(std::string_view id_bytes) {
    if (id_bytes.size() != 16) return 0;
    Uuid id{};
    for (std::size_t i = 0; i < 6; ++i) id[i] = static_cast<std::uint8_t>(id_bytes[i]);
    return static_cast<std::int64_t>(uuid_v7_unix_ms(id));
}

}  // namespace tk
