#pragma once
// `tk-collector export`: the same export as GET /v1/export (run_export), to stdout or a file.
// Included by main.cpp only (it links CLI11).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "tk/collector/database.hpp"
#include "tk/collector/export.hpp"

namespace tk::collector {

struct ExportCommand {
    CLI::App* command = nullptr;
    std::string tool;
    std::string from;
    std::string to;
    std::string format = "csv";
    std::string output;  ///< "" = stdout
};

/// Declares the command; `add_common` adds --database-url and --log-level.
inline void add_export_command(CLI::App& app, ExportCommand& export_command,
                               const std::function<void(CLI::App*)>& add_common) {
    auto* command = app.add_subcommand("export",
                                       "Write a tool's raw events of a time range as CSV or NDJSON "
                                       "(like GET /v1/export; no migrations, so it may read a replica)");
    add_common(command);
    command->add_option("--tool", export_command.tool, "the tool whose events to export")->required();
    command->add_option(
        "--from", export_command.from,
        "first moment, included: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z], UTC (default: 30 days before --to)");
    command->add_option("--to", export_command.to, "end, excluded: as --from (default: the start of tomorrow, UTC)");
    command->add_option("--format", export_command.format, "csv (RFC 4180, with a header row) or ndjson")
        ->capture_default_str();
    command->add_option("--output", export_command.output,
                        "file to write (written as FILE.part, renamed when complete); default: stdout");
    export_command.command = command;
}

namespace detail {

/// Writes everything or says why not.
inline bool write_all(std::FILE* file, std::string_view data) {
    return std::fwrite(data.data(), 1, data.size(), file) == data.size();
}

}  // namespace detail

/// Runs the export if it was chosen: its exit code (0 done, 1 failed, 2 bad parameters), else nullopt.
/// A failed export to a file leaves no file behind (only a complete one is renamed into place).
inline std::optional<int> run_export_command(const ExportCommand& export_command, const std::string& database_url,
                                             const std::string& password) {
    if (!*export_command.command) return std::nullopt;
    ExportParams params;
    for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"tool", export_command.tool},
                                     {"from", export_command.from},
                                     {"to", export_command.to},
                                     {"format", export_command.format}}) {
        if (value.empty() && std::string_view(key) != "tool") continue;
        if (auto set = set_export_param(params, key, value); !set) {
            spdlog::error("--{}", set.error());
            return 2;
        }
    }
    if (auto range = resolve_export_range(params, std::chrono::system_clock::now()); !range) {
        spdlog::error("--{}", range.error());
        return 2;
    }
    const std::string partial = export_command.output.empty() ? "" : export_command.output + ".part";
    std::FILE* out = partial.empty() ? stdout : std::fopen(partial.c_str(), "wb");
    if (out == nullptr) {
        spdlog::error("cannot write {}: {}", partial, std::strerror(errno));
        return 1;
    }
    ConnectionSettings settings;
    settings.statement_timeout_ms = 0;
    settings.lock_timeout_ms = 0;
    settings.password = password;
    bool written = true;
    try {
        Connection conn(database_url, settings);
        const auto outcome = run_export(
            conn, params,
            [&](std::string_view piece) {
                written = detail::write_all(out, piece);
                return written;
            },
            0);
        if (!written) spdlog::error("cannot write the export: {}", std::strerror(errno));
        written = written && outcome.complete && std::fflush(out) == 0;
        if (written)
            spdlog::info("exported {} rows of {} ({}Z to {}Z)", outcome.rows, params.tool, params.from, params.to);
    } catch (const DatabaseError& error) {
        spdlog::error("{}", error.what());
        written = false;
    }
    if (partial.empty()) return written ? 0 : 1;
    written = std::fclose(out) == 0 && written;
    std::error_code ec;
    if (written) std::filesystem::rename(partial, export_command.output, ec);
    if (!written || ec) {
        spdlog::error("export not written to {}{}", export_command.output, ec ? ": " + ec.message() : "");
        std::filesystem::remove(partial, ec);
        return 1;
    }
    return 0;
}

}  // namespace tk::collector
