// Read tokens: the Bearer header parser (pure), and tokens made, listed and revoked by the real
// `tk-collector tokens` commands, checked by authorize_read() against the same PostgreSQL.
#include <catch2/catch.hpp>

#include "support/collector_fixture.hpp"
#include "tk/collector/database.hpp"
#include "tk/collector/tokens.hpp"

using namespace tk::test;
using tk::collector::authorize_read;
using tk::collector::bearer_token;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string make_token(const CollectorFixture& collector, std::vector<std::string> args) {
    args.insert(args.begin(), {"tokens", "create"});
    const auto made = collector.run_command(args);
    REQUIRE(made.exit_code == 0);
    REQUIRE(made.out.size() == 4 + 43 + 1);  // "tkr_", 32 bytes of base64url, newline
    return made.out.substr(0, made.out.size() - 1);
}

}  // namespace

TEST_CASE("bearer_token: the Bearer scheme in any case and one token68 token, nothing else") {
    CHECK(bearer_token("Bearer tkr_abc-_") == std::optional<std::string_view>("tkr_abc-_"));
    CHECK(bearer_token("bearer  tkr_x ") == std::optional<std::string_view>("tkr_x"));
    CHECK(bearer_token("BEARER tkr_x") == std::optional<std::string_view>("tkr_x"));
    CHECK_FALSE(bearer_token(""));
    CHECK_FALSE(bearer_token("Bearer"));
    CHECK_FALSE(bearer_token("Bearer "));
    CHECK_FALSE(bearer_token("Basic dXNlcjpwYXNz"));
    CHECK_FALSE(bearer_token("Bearer two tokens"));
    CHECK_FALSE(bearer_token("Bearer tkr_\"quoted\""));
    CHECK_FALSE(bearer_token("Bearer " + std::string(257, 'a')));
    CHECK(bearer_token("Bearer " + std::string(256, 'a')));
}

TEST_CASE("tokens create/list/revoke: shown once, stored hashed, each reads only its tools") {
    CollectorFixture collector;
    const std::string team =
        make_token(collector, {"--tool", "alpha", "--tool", "beta", "--tool", "alpha", "--name", "alice"});
    const std::string other = make_token(collector, {"--tool", "gamma"});
    const std::string ingest_key = collector.create_key("alpha");

    // Only the hash is stored: the plain token appears nowhere in the database.
    CHECK(collector.query("SELECT count(*) FROM read_tokens WHERE position('" + team.substr(4) +
                          "' in encode(token_hash, 'escape')) > 0 OR prefix = '" + team + "'") == "0");
    CHECK(collector.query("SELECT string_agg(tool, ',' ORDER BY tool) FROM read_token_tools") == "alpha,beta,gamma");

    const auto listed = collector.run_command({"tokens", "list"});
    REQUIRE(listed.exit_code == 0);
    CHECK(contains(listed.out, "\talice\t" + team.substr(0, 12) + "\talpha,beta\t"));
    CHECK(contains(listed.out, "\t-\t" + other.substr(0, 12) + "\tgamma\t"));
    CHECK_FALSE(contains(listed.out, team));

    tk::collector::Connection conn(collector.database_url());
    CHECK(authorize_read(conn, "Bearer " + team, "alpha").status == 200);
    CHECK(authorize_read(conn, "Bearer " + team, "beta").status == 200);
    CHECK(authorize_read(conn, "Bearer " + team, "alpha").token->name == "alice");
    const auto cross = authorize_read(conn, "Bearer " + team, "gamma");
    CHECK(cross.status == 403);
    CHECK(contains(cross.message, "does not read tool gamma"));
    CHECK(authorize_read(conn, "Bearer " + other, "alpha").status == 403);
    CHECK(authorize_read(conn, "Bearer " + other, "gamma").status == 200);
    // An ingest key for the very tool cannot read; nor can a made-up token or no header.
    const auto with_key = authorize_read(conn, "Bearer " + ingest_key, "alpha");
    CHECK(with_key.status == 401);
    CHECK(contains(with_key.message, "ingest keys cannot read"));
    CHECK(authorize_read(conn, "Bearer tkr_" + std::string(43, 'A'), "alpha").status == 401);
    CHECK(authorize_read(conn, "", "alpha").status == 401);

    // Revoked by prefix: 401 from then on; the other token is untouched.
    const auto revoked = collector.run_command({"tokens", "revoke", team.substr(0, 12)});
    CHECK(revoked.exit_code == 0);
    CHECK(authorize_read(conn, "Bearer " + team, "alpha").status == 401);
    CHECK(authorize_read(conn, "Bearer " + other, "gamma").status == 200);
    CHECK(collector.run_command({"tokens", "revoke", team}).exit_code == 1);  // already revoked
    const auto by_token = collector.run_command({"tokens", "revoke", other});
    CHECK(by_token.exit_code == 0);
    CHECK_FALSE(contains(by_token.err, other));  // the log names a plain token by its prefix only
    CHECK(authorize_read(conn, "Bearer " + other, "gamma").status == 401);

    // Bad input: a clear error, nothing made.
    const auto no_tool = collector.run_command({"tokens", "create"});
    CHECK(no_tool.exit_code != 0);
    CHECK(contains(no_tool.err + no_tool.out, "--tool"));
    CHECK(collector.run_command({"tokens", "create", "--tool", ""}).exit_code == 1);
    CHECK(collector.query("SELECT count(*) FROM read_tokens") == "2");
}
