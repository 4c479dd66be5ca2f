#pragma once
/// Ingest keys: one or more per tool, stored as SHA-256 hashes. The plain key ("tk_" and 43
/// base64url characters = 32 random bytes) is shown once, when it is made.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tk::collector {

class Connection;

struct KeyInfo {
    long long id = 0;
    std::string tool;
    std::string prefix;  ///< the key's first characters, enough to recognise it
    std::string created_at;
    std::string revoked_at;  ///< "" while the key is valid
};

struct IngestKey {
    long long id = 0;
    std::string tool;
};

/// SHA-256 of `plain_key` (32 raw bytes): what the database stores and what requests are
/// looked up by.
std::string hash_key(std::string_view plain_key);

/// `prefix` and 32 random bytes in base64url (43 characters): the form of ingest keys ("tk_")
/// and read tokens ("tkr_"). Throws std::runtime_error if OpenSSL has no random bytes.
std::string random_secret(std::string_view prefix);

/// Longest accepted tool name (bytes); also the per-event bound.
constexpr std::size_t kMaxToolLength = 128;

/// Makes a key for `tool` and returns the plain key. Throws std::invalid_argument for a bad
/// tool name, DatabaseError on database failure.
std::string create_key(Connection& conn, const std::string& tool);
/// Every key, oldest first.
std::vector<KeyInfo> list_keys(Connection& conn);
/// Revokes the key named by its id, its prefix or the plain key. Returns how many keys were
/// revoked (0: none matched or already revoked). Throws std::invalid_argument if a prefix is
/// ambiguous.
int revoke_key(Connection& conn, const std::string& id_prefix_or_key);
/// The valid (not revoked) key with this hash, if any.
std::optional<IngestKey> find_key(Connection& conn, const std::string& key_hash);

}  // namespace tk::collector
