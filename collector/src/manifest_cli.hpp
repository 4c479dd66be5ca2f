#pragma once
// `tk-collector tools manifest set|show|history`: a tool's manifest (docs/privacy.md,
// "Manifests"), kept out of main.cpp like the token commands. Included by main.cpp only (CLI11).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include "tk/collector/manifests.hpp"
#include "tk/common/manifest.hpp"

namespace tk::collector {

struct ManifestCommands {
    CLI::App* set = nullptr;
    CLI::App* show = nullptr;
    CLI::App* history = nullptr;
    std::string tool;
    std::string file;
};

/// Declares `manifest` under `tools` (the `tools` command); `add_common` adds --database-url etc.
inline void add_manifest_commands(CLI::App& tools, ManifestCommands& commands,
                                  const std::function<void(CLI::App*)>& add_common) {
    auto* manifest = tools.add_subcommand("manifest",
                                          "A tool's public manifest: what it may collect (enforced by "
                                          "every agent; served at GET /v1/tools/TOOL/manifest)");
    manifest->require_subcommand(1);
    commands.set = manifest->add_subcommand("set",
                                            "Check FILE (the manifest as JSON) and store it as TOOL's next "
                                            "version; agents pick it up at their next refresh");
    add_common(commands.set);
    commands.set->add_option("tool", commands.tool, "the tool's name")->required();
    commands.set->add_option("file", commands.file, "the manifest file (JSON; - for stdin)")->required();
    commands.show =
        manifest->add_subcommand("show", "Print TOOL's manifest in force (JSON), then in plain words on stderr");
    add_common(commands.show);
    commands.show->add_option("tool", commands.tool, "the tool's name")->required();
    commands.history = manifest->add_subcommand("history", "List TOOL's manifest versions, newest first");
    add_common(commands.history);
    commands.history->add_option("tool", commands.tool, "the tool's name")->required();
}

/// The file's text; throws std::runtime_error naming it if it cannot be read.
inline std::string read_manifest_file(const std::string& path) {
    std::ostringstream text;
    if (path == "-") {
        text << std::cin.rdbuf();
        return text.str();
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot read " + path);
    text << file.rdbuf();
    return text.str();
}

/// Runs the chosen manifest command, if one was chosen; its exit code, else nullopt.
inline std::optional<int> run_manifest_commands(const ManifestCommands& commands, Connection& conn) {
    if (commands.set != nullptr && *commands.set) {
        const std::string text = read_manifest_file(commands.file);
        try {
            const auto stored = set_manifest(conn, commands.tool, text);
            if (!stored) {
                spdlog::info("{}: the same as the version in force; nothing stored", commands.file);
                return 0;
            }
            spdlog::info("stored {}'s manifest version {} ({})", commands.tool, stored->version, stored->changed_at);
            return 0;
        } catch (const std::invalid_argument& error) {
            spdlog::error("{}: {}", commands.file, error.what());
            return 2;
        }
    }
    if (commands.show != nullptr && *commands.show) {
        const auto current = current_manifest(conn, commands.tool);
        if (!current) {
            spdlog::error("{} has no manifest", commands.tool);
            return 1;
        }
        std::cout << current->json << std::endl;
        if (auto parsed = manifest::parse(current->json)) std::cerr << manifest::describe(*parsed);
        return 0;
    }
    if (commands.history != nullptr && *commands.history) {
        std::cout << "version\tchanged\trules\n";
        for (const auto& version : manifest_history(conn, commands.tool)) {
            const auto parsed = manifest::parse(version.json);
            std::cout << version.version << '\t' << version.changed_at << '\t'
                      << (parsed ? std::to_string(parsed->events_size()) : "?") << '\n';
        }
        return 0;
    }
    return std::nullopt;
}

}  // namespace tk::collector
