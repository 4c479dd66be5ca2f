// Ingest keys (keys.hpp): making them, storing their SHA-256, finding and revoking them.
#include "tk/collector/keys.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

#include "tk/collector/database.hpp"

namespace tk::collector {

namespace {

constexpr std::size_t kPrefixLength = 11;  // "tk_" + 8 characters

std::string base64url(const unsigned char* data, std::size_t size) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (std::size_t i = 0; i < size; ++i) {
        bits = (bits << 8) | data[i];
        count += 8;
        while (count >= 6) {
            count -= 6;
            out.push_back(kAlphabet[(bits >> count) & 0x3f]);
        }
    }
    if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 0x3f]);
    return out;
}

bool is_all_digits(const std::string& text) {
    return !text.empty() && text.size() < 19 && text.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

std::string hash_key(std::string_view plain_key) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(plain_key.data()), plain_key.size(), digest);
    return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

std::string random_secret(std::string_view prefix) {
    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("no random bytes from OpenSSL");
    return std::string(prefix) + base64url(random, sizeof random);
}

std::string create_key(Connection& conn, const std::string& tool) {
    if (tool.empty() || tool.size() > kMaxToolLength || tool.find('\0') != std::string::npos) {
        throw std::invalid_argument("tool name must be 1 to 128 bytes");
    }
    const std::string key = random_secret("tk_");
    conn.exec_params("INSERT INTO ingest_keys (tool, prefix, key_hash) VALUES ($1, $2, $3)",
                     {tool, key.substr(0, kPrefixLength), hash_key(key)}, {false, false, true});
    return key;
}

std::vector<KeyInfo> list_keys(Connection& conn) {
    const Result result = conn.exec(
        "SELECT id, tool, prefix, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
        " FROM ingest_keys ORDER BY id");
    std::vector<KeyInfo> keys;
    for (int row = 0; row < result.rows(); ++row) {
        keys.push_back({std::stoll(std::string(result.value(row, 0))), std::string(result.value(row, 1)),
                        std::string(result.value(row, 2)), std::string(result.value(row, 3)),
                        std::string(result.value(row, 4))});
    }
    return keys;
}

int revoke_key(Connection& conn, const std::string& id_prefix_or_key) {
    const std::string& what = id_prefix_or_key;
    if (is_all_digits(what)) {
        return static_cast<int>(
            conn.exec("UPDATE ingest_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", {what})
                .affected());
    }
    if (what.size() > kPrefixLength) {  // the plain key itself
        return static_cast<int>(conn.exec_params("UPDATE ingest_keys SET revoked_at = now()"
                                                 " WHERE key_hash = $1 AND revoked_at IS NULL",
                                                 {hash_key(what)}, {true})
                                    .affected());
    }
    const Result matches =
        conn.exec("SELECT count(*) FROM ingest_keys WHERE prefix = $1 AND revoked_at IS NULL", {what});
    if (std::stoll(std::string(matches.value(0, 0))) > 1) {
        throw std::invalid_argument("prefix " + what + " names several keys; revoke by id");
    }
    return static_cast<int>(
        conn.exec("UPDATE ingest_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL", {what})
            .affected());
}

std::optional<IngestKey> find_key(Connection& conn, const std::string& key_hash) {
    const Result result = conn.exec_params(
        "SELECT id, tool FROM ingest_keys WHERE key_hash = $1 AND revoked_at IS NULL", {key_hash}, {true});
    if (result.rows() == 0) return std::nullopt;
    return IngestKey{std::stoll(std::string(result.value(0, 0))), std::string(result.value(0, 1))};
}

}  // namespace tk::collector
