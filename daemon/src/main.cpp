// tk-agent: the per-user telemetry-kit agent. Thin: flags, logging, then tk::agent::Agent.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>

#include "tk/agent/agent.hpp"
#include "tk/agent/config.hpp"
#include "tk/agent/version.hpp"
#include "tk/common/paths.hpp"

int main(int argc, char** argv) {
    CLI::App app{
        "tk-agent — the per-user telemetry-kit agent.\n"
        "Receives events from instrumented tools on a Unix socket, applies the person's privacy\n"
        "choices, queues them in SQLite and forwards them to each tool's collector.\n"
        "Runs in the foreground (systemd or launchd supervise it); logs go to stderr."};
    app.set_version_flag("--version", std::string(tk::agent::version()));
    app.footer(
        "Exit status: 0 after SIGTERM/SIGINT or an idle exit (everything received is committed first);\n"
        "1 if it cannot start (the reason is printed on stderr), e.g. another agent is live on the socket.\n"
        "Socket activation: systemd (LISTEN_FDS) and launchd; sd_notify READY=1/STOPPING=1 when\n"
        "NOTIFY_SOCKET is set.\n"
        "Config keys: tk-agent --print-config. Details: docs/agent.md.");
    std::string socket;
    std::string home;
    std::string config_file;
    std::string log_level;
    bool print_config = false;
    std::uint64_t idle_exit_s = 0;
    app.add_option("--socket", socket,
                   "Unix socket to listen on (default: $TELEMETRY_KIT_SOCKET, else the per-user default)");
    app.add_option("--home", home, "state and config directory (default: $TELEMETRY_KIT_HOME, else XDG dirs)");
    app.add_option("--config", config_file, "config file (default: agent.conf in the config directory)");
    app.add_option("--log-level", log_level,
                   "trace, debug, info, warn, error or off (default: the config's, else info)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_flag("--foreground", "run in the foreground (the only mode; accepted for service files)");
    auto* idle_exit = app.add_option(
        "--idle-exit", idle_exit_s,
        "when socket-activated: exit after SECONDS with no client connected and nothing to send\n"
        "(0 = never; default: the config's agent.idle_exit_s, else 900). Ignored when started directly.");
    idle_exit->type_name("SECONDS")->check(CLI::Validator(
        [](std::string& text) -> std::string {
            if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos ||
                std::stoull(text) > tk::agent::kMaxIdleExitSeconds) {
                return "expected a whole number of seconds up to " + std::to_string(tk::agent::kMaxIdleExitSeconds) +
                       " (0 = never), got '" + text + "'";
            }
            return {};
        },
        "SECONDS"));
    app.add_flag("--print-config", print_config, "print the config file with every key at its default, and exit");
    CLI11_PARSE(app, argc, argv);

    if (print_config) {
        std::cout << tk::agent::default_config_text();
        return 0;
    }

    auto logger = spdlog::stderr_color_mt("tk-agent");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    ::signal(SIGPIPE, SIG_IGN);
    ::umask(0077);  // the queue database, spool and logs are the person's alone

    try {
        const std::map<std::string, std::string> overrides = {{"TELEMETRY_KIT_SOCKET", socket},
                                                              {"TELEMETRY_KIT_HOME", home}};
        tk::agent::AgentOptions options;
        options.paths = tk::resolve_paths([&overrides](const char* name) -> const char* {
            if (auto it = overrides.find(name); it != overrides.end() && !it->second.empty()) return it->second.c_str();
            return std::getenv(name);
        });
        const bool explicit_config = !config_file.empty();
        options.config = tk::agent::load_config(
            explicit_config ? std::filesystem::path(config_file) : options.paths.config_file(), explicit_config);
        if (*idle_exit) options.config.idle_exit = std::chrono::seconds(idle_exit_s);
        const std::string level = !log_level.empty() ? log_level : options.config.log_level;
        const auto parsed = spdlog::level::from_str(level);
        if (parsed == spdlog::level::off && level != "off")
            throw std::runtime_error("unknown log level '" + level + "'");
        spdlog::set_level(parsed);

        tk::agent::Agent agent(std::move(options));
        return agent.run();
    } catch (const std::exception& e) {
        std::cerr << "tk-agent: " << e.what() << "\n";
        return 1;
    }
}
