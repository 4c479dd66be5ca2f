#pragma once
// `tk-collector tokens create|list|revoke`: the read-token commands, kept out of main.cpp so
// the command line there stays a list of entries. Included by main.cpp only (it links CLI11).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <iostream>
#include <optional>

#include "tk/collector/tokens.hpp"

namespace tk::collector {

struct TokenCommands {
    CLI::App* create = nullptr;
    CLI::App* list = nullptr;
    CLI::App* revoke = nullptr;
    std::vector<std::string> tools;
    std::string name;
    std::string which;
};

/// Declares the commands; `add_common` adds --database-url and --log-level to each.
inline void add_token_commands(CLI::App& app, TokenCommands& commands,
                               const std::function<void(CLI::App*)>& add_common) {
    auto* tokens = app.add_subcommand("tokens", "Manage read tokens for the query API (stored hashed; shown once)");
    tokens->require_subcommand(1);
    commands.create = tokens->add_subcommand("create",
                                             "Make a read token for one or more tools and print it (only "
                                             "the token, on stdout)");
    add_common(commands.create);
    commands.create->add_option("--tool", commands.tools, "a tool the token may read (repeat for several)")->required();
    commands.create->add_option("--name", commands.name, "who holds the token, for `tokens list`");
    commands.list = tokens->add_subcommand("list", "List tokens: id, name, prefix, tools, created, revoked");
    add_common(commands.list);
    commands.revoke = tokens->add_subcommand("revoke", "Revoke a token by its id, its prefix or the token itself");
    add_common(commands.revoke);
    commands.revoke->add_option("token", commands.which, "token id, prefix (tkr_xxxxxxxx) or plain token")->required();
}

/// Runs the chosen token command, if one was chosen; its exit code, else nullopt.
inline std::optional<int> run_token_commands(const TokenCommands& commands, Connection& conn) {
    if (*commands.create) {
        std::cout << create_token(conn, commands.tools, commands.name) << std::endl;
        return 0;
    }
    if (*commands.list) {
        std::cout << "id\tname\tprefix\ttools\tcreated\trevoked\n";
        for (const auto& token : list_tokens(conn)) {
            std::string tools;
            for (const auto& tool : token.tools) tools += (tools.empty() ? "" : ",") + tool;
            std::cout << token.id << '\t' << (token.name.empty() ? "-" : token.name) << '\t' << token.prefix << '\t'
                      << tools << '\t' << token.created_at << '\t'
                      << (token.revoked_at.empty() ? "-" : token.revoked_at) << '\n';
        }
        return 0;
    }
    if (*commands.revoke) {
        const int revoked = revoke_token(conn, commands.which);
        // A plain token is a secret: the log names it by its prefix only.
        const std::string shown = commands.which.size() > 12 ? commands.which.substr(0, 12) + "..." : commands.which;
        if (revoked == 0) {
            spdlog::error("no valid token matches {}", shown);
            return 1;
        }
        spdlog::info("revoked {} token(s)", revoked);
        return 0;
    }
    return std::nullopt;
}

}  // namespace tk::collector
