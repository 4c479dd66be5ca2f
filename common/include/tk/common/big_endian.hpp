#pragma once
/// 32-bit big-endian integers in byte buffers: the length prefix of every frame on the agent
/// socket and in the spool file (framing.hpp, spool_format.hpp, the client's wire.cpp).

#include <cstdint>
#include <string>

namespace tk {

/// The big-endian uint32 in the 4 bytes at `at`.
inline std::uint32_t read_be32(const char* at) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(at);
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

/// Writes `value` big-endian into the 4 bytes at `at`.
inline void write_be32(char* at, std::uint32_t value) noexcept {
    at[0] = static_cast<char>((value >> 24) & 0xff);
    at[1] = static_cast<char>((value >> 16) & 0xff);
    at[2] = static_cast<char>((value >> 8) & 0xff);
    at[3] = static_cast<char>(value & 0xff);
}

/// Appends `value` big-endian to `out`.
inline void append_be32(std::string& out, std::uint32_t value) {
    char bytes[4];
    write_be32(bytes, value);
    out.append(bytes, sizeof bytes);
}

}  // namespace tk
