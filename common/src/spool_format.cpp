// The spool file's record format (spool_format.hpp): finishing a record (length, CRC-32) and
// scanning a file into intact records and damaged stretches. Pure.
#include "tk/common/spool_format.hpp"

#include "tk/common/big_endian.hpp"

#include <array>

namespace tk::spool {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}

constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

/// The payload of the record at `at` if one intact record starts there, else empty with `ok` false.
bool intact_record(std::string_view file, std::size_t at, std::size_t max_payload, std::string_view& payload) {
    if (file.size() - at < kHeaderBytes || file.compare(at, kMagic.size(), kMagic) != 0) return false;
    const std::uint32_t length = read_be32(file.data() + at + 4);
    if (length > max_payload || length > file.size() - at - kHeaderBytes) return false;
    const std::uint32_t expected = read_be32(file.data() + at + 8);
    const std::uint32_t actual = crc32(file.substr(at + kHeaderBytes, length), crc32(file.substr(at + 4, 4)));
    if (actual != expected) return false;
    payload = file.substr(at + kHeaderBytes, length);
    return true;
}

Scan scan_legacy(std::string_view file, std::size_t max_payload) {
    Scan result;
    result.legacy = true;
    std::size_t at = 0;
    while (at < file.size()) {
        const std::size_t left = file.size() - at;
        const std::uint32_t length = left >= 4 ? read_be32(file.data() + at) : 0;
        if (left < 4 || length > max_payload || length > left - 4) {
            result.damaged_spans = 1;
            result.damaged_bytes = left;
            break;
        }
        result.records.push_back(file.substr(at + 4, length));
        at += 4 + length;
    }
    return result;
}

}  // namespace

std::uint32_t crc32(std::string_view bytes, std::uint32_t crc) noexcept {
    crc = ~crc;
    for (const char c : bytes) crc = kCrcTable[(crc ^ static_cast<unsigned char>(c)) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

std::size_t begin_record(std::string& out) {
    const std::size_t at = out.size();
    out.append(kMagic);
    out.append(8, '\0');
    return at;
}

void finish_record(std::string& out, std::size_t header_at) {
    const auto length = static_cast<std::uint32_t>(out.size() - header_at - kHeaderBytes);
    write_be32(out.data() + header_at + 4, length);
    const std::string_view view(out);
    write_be32(out.data() + header_at + 8,
               crc32(view.substr(header_at + kHeaderBytes), crc32(view.substr(header_at + 4, 4))));
}

void append_record(std::string& out, std::string_view payload) {
    const std::size_t at = begin_record(out);
    out.append(payload);
    finish_record(out, at);
}

Scan scan(std::string_view file, std::size_t max_payload) {
    // A legacy frame starts with its length's high byte, 0 for any length up to 16 MiB; a record
    // starts with 'T'. A file whose first byte was damaged is read as records (and resynchronised).
    if (!file.empty() && file[0] == '\0') return scan_legacy(file, max_payload);
    Scan result;
    std::size_t at = 0;
    while (at < file.size()) {
        std::string_view payload;
        if (intact_record(file, at, max_payload, payload)) {
            result.records.push_back(payload);
            at += kHeaderBytes + payload.size();
            continue;
        }
        // Damaged from here: skip to the next magic that starts an intact record. Each candidate
        // is checked once and skipped by at least one byte, so the scan stays linear but for
        // the checksums of candidates that fail (each bounded by max_payload).
        const std::size_t start = at;
        std::size_t next = file.find(kMagic, at + 1);
        while (next != std::string_view::npos && !intact_record(file, next, max_payload, payload)) {
            next = file.find(kMagic, next + 1);
        }
        at = next == std::string_view::npos ? file.size() : next;
        ++result.damaged_spans;
        result.damaged_bytes += at - start;
    }
    return result;
}

}  // namespace tk::spool
