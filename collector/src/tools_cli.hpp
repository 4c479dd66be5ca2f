#pragma once
// `tk-collector tools add|set|list|show`: per-tool retention and monthly quota (tenants.hpp).
// Kept out of main.cpp like the other command groups; other `tools` subcommands (e.g. the
// manifest's) attach to the same parent in their own file. Included by main.cpp only (CLI11).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <iostream>
#include <optional>

#include "tk/collector/tenants.hpp"
#include "tk/common/clock.hpp"

namespace tk::collector {

struct ToolCommands {
    CLI::App* add = nullptr;
    CLI::App* set = nullptr;
    CLI::App* list = nullptr;
    CLI::App* show = nullptr;
    std::string tool;
    std::string retention_days;
    std::string monthly_quota;
    std::string grace;
    std::string rollup_retention_days;
};

/// Declares add|set|list|show under `tools`; `add_common` adds --database-url and --log-level.
inline void add_tool_commands(CLI::App& tools, ToolCommands& commands,
                              const std::function<void(CLI::App*)>& add_common) {
    auto settings = [&](CLI::App* command) {
        add_common(command);
        command->add_option("tool", commands.tool, "the tool's name, as its events and ingest keys carry it")
            ->required();
        command->add_option("--retention-days", commands.retention_days,
                            "days raw events are kept (\"default\": the collector's --retention-days, which also "
                            "bounds it)");
        command->add_option("--monthly-quota", commands.monthly_quota,
                            "events accepted per calendar month, UTC (\"none\": no quota)");
        command->add_option("--grace", commands.grace,
                            "percent over the quota still accepted before batches are refused (default 0)");
        command->add_option("--rollup-retention-days", commands.rollup_retention_days,
                            "days the dashboard's rollups are kept (\"forever\": the default)");
    };
    commands.add =
        tools.add_subcommand("add", "Give a tool its own retention and quota (a tool without: global behaviour)");
    settings(commands.add);
    commands.set = tools.add_subcommand("set", "Change a tool's settings (only those given)");
    settings(commands.set);
    commands.list =
        tools.add_subcommand("list", "List tools with settings or usage: retention, quota, usage this month");
    add_common(commands.list);
    commands.show = tools.add_subcommand("show", "Show one tool's settings and usage this month");
    add_common(commands.show);
    commands.show->add_option("tool", commands.tool, "the tool's name")->required();
}

namespace tools_cli_detail {

/// The settings given on the command line; an error names the option.
inline tk::Result<ToolChange> change_from(const ToolCommands& commands, bool adding) {
    ToolChange change;
    change.tool = commands.tool;
    if (commands.tool.empty()) return Error{"a tool name cannot be empty"};
    auto limit = [](const std::string& text, const char* option,
                    std::int64_t min) -> tk::Result<std::optional<std::int64_t>> {
        auto parsed = parse_limit(text, min);
        if (!parsed) return Error{std::string(option) + ": " + parsed.error()};
        return parsed;
    };
    if (!commands.retention_days.empty()) {
        auto days = limit(commands.retention_days, "--retention-days", 1);
        if (!days) return Error{days.error()};
        change.retention_days = days->has_value() ? std::optional<int>(static_cast<int>(**days)) : std::nullopt;
    }
    if (!commands.monthly_quota.empty()) {
        auto quota = limit(commands.monthly_quota, "--monthly-quota", 0);
        if (!quota) return Error{quota.error()};
        change.monthly_quota = *quota;
    }
    if (!commands.grace.empty()) {
        auto grace = parse_limit(commands.grace, 0);
        if (!grace || !grace->has_value() || **grace > 1000)
            return Error{"--grace: expected a percentage from 0 to 1000"};
        change.grace_percent = static_cast<int>(**grace);
    }
    if (!commands.rollup_retention_days.empty()) {
        auto days = limit(commands.rollup_retention_days, "--rollup-retention-days", 1);
        if (!days) return Error{days.error()};
        change.rollup_retention_days = days->has_value() ? std::optional<int>(static_cast<int>(**days)) : std::nullopt;
    }
    if (!adding && !change.retention_days && !change.monthly_quota && !change.grace_percent &&
        !change.rollup_retention_days) {
        return Error{"nothing to change: give --retention-days, --monthly-quota, --grace or --rollup-retention-days"};
    }
    return change;
}

template <class T>
std::string or_text(const std::optional<T>& value, const char* otherwise) {
    return value ? std::to_string(*value) : otherwise;
}

inline void print_row(const ToolRow& row) {
    const auto& s = row.settings;
    std::cout << s.tool << '\t' << or_text(s.retention_days, "default") << '\t' << or_text(s.monthly_quota, "none")
              << '\t' << s.grace_percent << '\t' << or_text(s.rollup_retention_days, "forever") << '\t'
              << row.used_this_month << '\n';
}

}  // namespace tools_cli_detail

/// Runs the chosen tools command, if one was chosen; its exit code, else nullopt.
inline std::optional<int> run_tool_commands(const ToolCommands& commands, Connection& conn) {
    using namespace tools_cli_detail;
    if (*commands.add || *commands.set) {
        auto change = change_from(commands, commands.add->parsed());
        if (!change) {
            spdlog::error("{}", change.error());
            return 2;
        }
        auto done = *commands.add ? add_tool(conn, *change) : set_tool(conn, *change);
        if (!done) {
            spdlog::error("{}", done.error());
            return 1;
        }
        return 0;
    }
    if (*commands.list || *commands.show) {
        bool found = false;
        std::cout << "tool\tretention_days\tmonthly_quota\tgrace_percent\trollup_retention_days\tused_this_month\n";
        for (const auto& row : list_tools(conn, tk::wall_clock_ms())) {
            if (*commands.show && row.settings.tool != commands.tool) continue;
            found = true;
            print_row(row);
        }
        if (*commands.show && !found) {
            spdlog::error("tool {} has no settings and no usage this month (it keeps the global behaviour)",
                          commands.tool);
            return 1;
        }
        return 0;
    }
    return std::nullopt;
}

}  // namespace tk::collector
