#pragma once
/// Protobuf's base-128 varints, for the code that writes protobuf bytes by hand (the client's
/// wire.cpp, the agent's intake splicing and the forwarder's batch body): 7 bits a byte, low
/// bits first, the high bit set on every byte but the last.

#include <cstddef>
#include <cstdint>
#include <string>

namespace tk {

/// Bytes the varint of `value` takes (1 to 10).
inline std::size_t varint_size(std::uint64_t value) noexcept {
    std::size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++size;
    }
    return size;
}

/// Appends the varint of `value` to `out`.
inline void append_varint(std::string& out, std::uint64_t value) {
    char buffer[10];
    std::size_t n = 0;
    while (value >= 0x80) {
        buffer[n++] = static_cast<char>((value & 0x7F) | 0x80);
        value >>= 7;
    }
    buffer[n++] = static_cast<char>(value);
    out.append(buffer, n);
}

}  // namespace tk
