#pragma once
/// Read tokens: secret, read-only credentials for the query API, each scoped to named tools.
/// The plain token ("tkr_" and 43 base64url characters = 32 random bytes) is shown once when
/// it is made; the database keeps its SHA-256 (hash_key(), shared with ingest keys).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tk::collector {

class Connection;

/// A valid token, as a request presents it.
struct ReadToken {
    long long id = 0;
    std::string name;
    std::vector<std::string> tools;  ///< sorted
};

struct TokenInfo {
    long long id = 0;
    std::string name;
    std::string prefix;
    std::vector<std::string> tools;
    std::string created_at;
    std::string revoked_at;  ///< "" while the token is valid
};

/// Makes a token that reads `tools` (at least one, each 1-128 bytes; repeats are merged) and
/// returns the plain token. Throws std::invalid_argument for bad input, DatabaseError.
std::string create_token(Connection& conn, const std::vector<std::string>& tools, const std::string& name);
/// Every token, oldest first.
std::vector<TokenInfo> list_tokens(Connection& conn);
/// Revokes the token named by its id, its prefix or the plain token; returns how many were
/// revoked. Throws std::invalid_argument if a prefix names several tokens.
int revoke_token(Connection& conn, const std::string& id_prefix_or_token);
/// The valid (not revoked) token with this hash, if any.
std::optional<ReadToken> find_token(Connection& conn, const std::string& token_hash);

/// The token of an "Authorization: Bearer <token>" header value, if it has that shape (scheme
/// in any case, one token of at most 256 base64url/token68 characters). Pure.
std::optional<std::string_view> bearer_token(std::string_view authorization);

/// The outcome of checking a read request's credentials for one tool.
struct ReadAuth {
    int status = 401;     ///< 200 allowed, 401 no valid token, 403 a valid token for other tools
    std::string message;  ///< the reason, for the response body
    std::optional<ReadToken> token;
};

/// Whether `authorization` (the header's value) may read `tool`. One indexed lookup, and none
/// at all for a header that cannot be a read token (an ingest key, say). Throws DatabaseError.
ReadAuth authorize_read(Connection& conn, std::string_view authorization, std::string_view tool);

}  // namespace tk::collector
