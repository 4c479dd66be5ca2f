#pragma once
/// Hexadecimal digits, both ways: ids and digests in logs and file names, UUID text, percent
/// escapes. Header-only and pure.

#include <string>
#include <string_view>

namespace tk {

/// Appends `byte` as two lower-case hex digits.
inline void append_hex_byte(std::string& out, unsigned char byte) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0x0f]);
}

/// `bytes` as lower-case hex, two digits a byte.
inline std::string to_hex(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) append_hex_byte(out, static_cast<unsigned char>(c));
    return out;
}

/// The value of the hex digit `c` (either case), or -1 if it is not one.
constexpr int hex_digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace tk
