#pragma once
/// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, a 12-bit counter that keeps ids made
/// within one millisecond in order, the RFC 4122 variant, and 62 random bits.
/// Time-ordered ids keep SQLite and PostgreSQL index inserts at the end of the B-tree.

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace tk {

using Uuid = std::array<std::uint8_t, 16>;

/// Makes UUIDv7s in strictly increasing order, even within one millisecond and when the clock
/// steps back. Not thread-safe: use one per thread, or `uuid_v7()`.
class UuidV7Generator {
public:
    /// Seeds from the operating system's random source.
    UuidV7Generator();

    /// The next id, using the current wall clock.
    Uuid next();
    /// The next id as if the clock read `unix_ms` (for tests).
    Uuid next_at(std::uint64_t unix_ms);

private:
    std::mt19937_64 random_;
    std::uint64_t last_ms_ = 0;
    std::uint32_t counter_ = 0;  // 12 bits
};

/// A new UUIDv7 from a thread-local generator (re-seeded in a forked child).
Uuid uuid_v7();

/// Canonical text form: 8-4-4-4-12 lowercase hex.
std::string to_string(const Uuid& id);
/// The same for 16 raw bytes (e.g. a protobuf `bytes` field); empty if not 16 bytes.
std::string uuid_bytes_to_string(std::string_view bytes);
/// Parses the canonical form (case-insensitive).
std::optional<Uuid> parse_uuid(std::string_view text);

/// The id's 16 bytes as a string (for protobuf `bytes` fields).
inline std::string to_bytes(const Uuid& id) { return std::string(id.begin(), id.end()); }

/// The millisecond timestamp in a UUIDv7.
std::uint64_t uuid_v7_unix_ms(const Uuid& id);
/// The same for the id's 16 raw bytes (a protobuf `bytes` field); 0 if not 16 bytes.
std::int64_t uuid_v7_unix_ms(std::string_view id_bytes);
/// The smallest UUIDv7 of millisecond `unix_ms` (before 1970: of 0), as 16 raw bytes: every id
/// made before then sorts below it bytewise (SQLite blobs, PostgreSQL uuids), because a UUIDv7
/// starts with its big-endian millisecond time. For "older than" cut-offs on an id index.
std::string uuid_v7_floor(std::int64_t unix_ms);

}  // namespace tk
