#pragma once
/// The spool file's record format (docs/protocol.md, "Spool file"), shared by every writer (the
/// client library, `tk track`) and the agent's import. Pure functions over bytes; no I/O here.
///
/// A record is a 12-byte header and a payload (one serialized SpoolRecord):
///
///     "TKS1" | payload length (4 bytes, big-endian) | CRC-32 (4 bytes, big-endian) | payload
///
/// The CRC-32 (IEEE 802.3, as zlib's crc32()) covers the length bytes and the payload. The magic
/// lets a reader find the next record after a torn or corrupt one; the checksum tells a record
/// from bytes that only look like one.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tk::spool {

inline constexpr std::string_view kMagic{"TKS1", 4};
inline constexpr std::size_t kHeaderBytes = 12;
/// Largest payload a record may hold (the same limit as a client frame).
inline constexpr std::size_t kMaxPayloadBytes = 1u << 20;

/// CRC-32 (IEEE, reflected, as zlib): `crc32(b, crc32(a)) == crc32(a + b)`; crc32("") == 0.
std::uint32_t crc32(std::string_view bytes, std::uint32_t crc = 0) noexcept;

/// Appends a header placeholder for a record whose payload the caller appends next; returns
/// where the header starts, for finish_record().
std::size_t begin_record(std::string& out);
/// Fills in the header begun at `header_at`: the payload is everything appended since.
void finish_record(std::string& out, std::size_t header_at);
/// Appends one whole record holding `payload`.
void append_record(std::string& out, std::string_view payload);

/// What a spool file holds.
struct Scan {
    std::vector<std::string_view> records;  ///< payloads whose checksum matched, in file order (views into the input)
    std::size_t damaged_spans = 0;          ///< stretches of torn or corrupt bytes skipped
    std::size_t damaged_bytes = 0;          ///< bytes in those stretches
    bool legacy = false;                    ///< written before records had checksums: see scan()
};

/// Every intact record of `file`. A stretch that is not an intact record (a torn write, flipped
/// bits, a record whose length runs past the end) is skipped up to the next magic that starts an
/// intact record, and counted once however many records it held. Linear in the file's size.
///
/// A file that starts with a 0 byte was written by an earlier version (4-byte
/// big-endian length, payload, no checksum): it is read that way, and a torn or over-long frame
/// ends it (without a magic there is nothing to resynchronise on), counted as one damaged span.
Scan scan(std::string_view file, std::size_t max_payload = kMaxPayloadBytes);

}  // namespace tk::spool
