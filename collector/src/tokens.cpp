// Read tokens (tokens.hpp): making, listing and revoking them, and authorize_read(), which checks
// a request's token and its tool scope with one indexed lookup.
#include "tk/collector/tokens.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "tk/collector/database.hpp"
#include "tk/collector/keys.hpp"

namespace tk::collector {

namespace {

constexpr std::string_view kTokenPrefix = "tkr_";
constexpr std::size_t kPrefixLength = 12;  // "tkr_" + 8 characters
constexpr std::size_t kMaxTokenLength = 256;
constexpr std::size_t kMaxNameLength = 128;

bool is_all_digits(const std::string& text) {
    return !text.empty() && text.size() < 19 && text.find_first_not_of("0123456789") == std::string::npos;
}

bool token68_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// A token's tools, from one "tool\ttool..." aggregate (tool names hold no tab: they are checked).
std::vector<std::string> split_tools(std::string_view joined) {
    std::vector<std::string> tools;
    while (!joined.empty()) {
        const auto tab = joined.find('\t');
        tools.emplace_back(joined.substr(0, tab));
        if (tab == std::string_view::npos) break;
        joined.remove_prefix(tab + 1);
    }
    std::sort(tools.begin(), tools.end());  // byte order (the database's collation may differ)
    return tools;
}

void check_tools(std::vector<std::string>& tools) {
    if (tools.empty()) throw std::invalid_argument("a token needs at least one --tool");
    for (const auto& tool : tools) {
        if (tool.empty() || tool.size() > kMaxToolLength ||
            tool.find_first_of(std::string("\t\0", 2)) != std::string::npos) {
            throw std::invalid_argument("tool name must be 1 to 128 bytes, without tab or NUL");
        }
    }
    std::sort(tools.begin(), tools.end());
    tools.erase(std::unique(tools.begin(), tools.end()), tools.end());
}

constexpr const char* kToolsOf =
    "(SELECT coalesce(string_agg(tool, E'\\t' ORDER BY tool), '') FROM read_token_tools WHERE token_id = t.id)";

}  // namespace

std::string create_token(Connection& conn, const std::vector<std::string>& tools_in, const std::string& name) {
    std::vector<std::string> tools = tools_in;
    check_tools(tools);
    if (name.size() > kMaxNameLength || name.find('\0') != std::string::npos) {
        throw std::invalid_argument("name must be at most 128 bytes");
    }
    const std::string token = random_secret(kTokenPrefix);
    conn.exec("BEGIN");
    try {
        const Result made =
            conn.exec_params("INSERT INTO read_tokens (name, prefix, token_hash) VALUES ($1, $2, $3) RETURNING id",
                             {name, token.substr(0, kPrefixLength), hash_key(token)}, {false, false, true});
        const std::string id(made.value(0, 0));
        for (const auto& tool : tools) {
            conn.exec("INSERT INTO read_token_tools (token_id, tool) VALUES ($1, $2)", {id, tool});
        }
        conn.exec("COMMIT");
    } catch (...) {
        if (conn.healthy()) {
            try {
                conn.exec("ROLLBACK");
            } catch (const DatabaseError&) {
            }
        }
        throw;
    }
    return token;
}

std::vector<TokenInfo> list_tokens(Connection& conn) {
    const Result result =
        conn.exec(std::string("SELECT id, name, prefix, ") + kToolsOf +
                  ", to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                  " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
                  " FROM read_tokens t ORDER BY id");
    std::vector<TokenInfo> tokens;
    for (int row = 0; row < result.rows(); ++row) {
        tokens.push_back({std::stoll(std::string(result.value(row, 0))), std::string(result.value(row, 1)),
                          std::string(result.value(row, 2)), split_tools(result.value(row, 3)),
                          std::string(result.value(row, 4)), std::string(result.value(row, 5))});
    }
    return tokens;
}

int revoke_token(Connection& conn, const std::string& what) {
    if (is_all_digits(what)) {
        return static_cast<int>(
            conn.exec("UPDATE read_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", {what})
                .affected());
    }
    if (what.size() > kPrefixLength) {  // the plain token itself
        return static_cast<int>(conn.exec_params("UPDATE read_tokens SET revoked_at = now()"
                                                 " WHERE token_hash = $1 AND revoked_at IS NULL",
                                                 {hash_key(what)}, {true})
                                    .affected());
    }
    const Result matches =
        conn.exec("SELECT count(*) FROM read_tokens WHERE prefix = $1 AND revoked_at IS NULL", {what});
    if (std::stoll(std::string(matches.value(0, 0))) > 1) {
        throw std::invalid_argument("prefix " + what + " names several tokens; revoke by id");
    }
    return static_cast<int>(
        conn.exec("UPDATE read_tokens SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL", {what})
            .affected());
}

std::optional<ReadToken> find_token(Connection& conn, const std::string& token_hash) {
    const Result result = conn.exec_params(std::string("SELECT id, name, ") + kToolsOf +
                                               " FROM read_tokens t WHERE token_hash = $1 AND revoked_at IS NULL",
                                           {token_hash}, {true});
    if (result.rows() == 0) return std::nullopt;
    return ReadToken{std::stoll(std::string(result.value(0, 0))), std::string(result.value(0, 1)),
                     split_tools(result.value(0, 2))};
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    constexpr std::string_view kScheme = "bearer ";
    if (authorization.size() <= kScheme.size() ||
        !equals_ignoring_case(authorization.substr(0, kScheme.size()), kScheme)) {
        return std::nullopt;
    }
    std::string_view token = authorization.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty() || token.size() > kMaxTokenLength || !std::all_of(token.begin(), token.end(), token68_char)) {
        return std::nullopt;
    }
    return token;
}

ReadAuth authorize_read(Connection& conn, std::string_view authorization, std::string_view tool) {
    ReadAuth auth;
    const auto token = bearer_token(authorization);
    if (!token) {
        auth.message = "missing or malformed Authorization: Bearer <read token>";
        return auth;
    }
    // An ingest key (tk_...) or anything else that is not a read token: no lookup at all.
    if (token->substr(0, kTokenPrefix.size()) != kTokenPrefix) {
        auth.message = "not a read token (ingest keys cannot read)";
        return auth;
    }
    auth.token = find_token(conn, hash_key(*token));
    if (!auth.token) {
        auth.message = "unknown or revoked read token";
        return auth;
    }
    if (!std::binary_search(auth.token->tools.begin(), auth.token->tools.end(), tool)) {
        auth.status = 403;
        auth.message = "this token does not read tool " + std::string(tool);
        return auth;
    }
    auth.status = 200;
    return auth;
}

}  // namespace tk::collector
