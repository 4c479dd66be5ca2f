// `tk service` on Linux: the systemd user units (a socket unit that starts the agent on the
// first connection, and its service) and the systemctl commands that load and unload them.
#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "service.hpp"
#include "service_plan.hpp"
#include "service_templates.hpp"
#include "tk/common/paths.hpp"

namespace tk::cli::service {
namespace fs = std::filesystem;

namespace {

/// In unit files '%' starts a specifier, so a literal one is doubled.
std::string escape_specifiers(const std::string& text) {
    std::string escaped;
    for (char c : text) {
        if (c == '%') escaped += '%';
        escaped += c;
    }
    return escaped;
}

/// systemd unit syntax: specifiers escaped; a path with blanks or quotes is quoted.
std::string systemd_quote(const std::string& text) {
    const std::string escaped = escape_specifiers(text);
    if (escaped.find_first_of(" \t\"'\\") == std::string::npos) return escaped;
    std::string quoted = "\"";
    for (char c : escaped) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + '"';
}

/// ListenStream= takes the rest of the line as the path, unquoted: only '%' needs escaping, and a
/// path that starts or ends with a blank or holds a line break cannot be written at all.
std::optional<std::string> systemd_listen_path(const std::string& path) {
    if (path.empty() || path.find_first_of("\n\r") != std::string::npos ||
        std::isspace(static_cast<unsigned char>(path.front())) != 0 ||
        std::isspace(static_cast<unsigned char>(path.back())) != 0) {
        return std::nullopt;
    }
    return escape_specifiers(path);
}

/// True if `path` is in /tmp or /var/tmp, which PrivateTmp=yes would swap for the unit's own.
bool in_shared_tmp(const fs::path& path) {
    const fs::path normal = path.lexically_normal();
    for (const fs::path tmp : {"/tmp", "/var/tmp"}) {
        const auto [end, _] = std::mismatch(tmp.begin(), tmp.end(), normal.begin(), normal.end());
        if (end == tmp.end()) return true;
    }
    return false;
}

fs::path systemd_unit_dir() {
    if (const char* config = env_or_null("XDG_CONFIG_HOME")) return fs::path(config) / "systemd" / "user";
    return tk::home_directory() / ".config" / "systemd" / "user";
}

}  // namespace

Plan systemd_plan(const fs::path& agent) {
    Plan plan;
    // An agent and its clients must agree on the socket and the state dir: when this shell
    // overrides them, the service is told the same.
    const char* socket_override = env_or_null("TELEMETRY_KIT_SOCKET");
    const char* home_override = env_or_null("TELEMETRY_KIT_HOME");
    plan.what = "systemd user units";
    const fs::path dir = systemd_unit_dir();
    std::map<std::string, std::string> values;
    if (!agent.empty()) {
        // The state dir as this shell resolves it (XDG_STATE_HOME, TELEMETRY_KIT_HOME): the
        // only writable path in the sandbox, so it must be the one the agent will use.
        const fs::path state_dir = tk::resolve_paths().state_dir;
        values["TK_AGENT_PATH"] = systemd_quote(agent.string());
        values["TK_SOCKET_PATH"] = "%t/telemetry-kit/agent.sock";
        if (socket_override) {
            const auto listen = systemd_listen_path(socket_override);
            if (!listen)
                plan.problem =
                    "TELEMETRY_KIT_SOCKET starts or ends with a blank or holds a line break; systemd cannot listen on "
                    "it";
            values["TK_SOCKET_PATH"] = listen.value_or("");
        }
        std::string environment;
        if (socket_override)
            environment +=
                "Environment=" + systemd_quote(std::string("TELEMETRY_KIT_SOCKET=") + socket_override) + "\n";
        if (home_override)
            environment += "Environment=" + systemd_quote(std::string("TELEMETRY_KIT_HOME=") + home_override) + "\n";
        if (const char* state = env_or_null("XDG_STATE_HOME"); state && !home_override) {
            environment += "Environment=" + systemd_quote(std::string("XDG_STATE_HOME=") + state) + "\n";
        }
        values["TK_ENVIRONMENT"] = environment;
        values["TK_STATE_DIR"] = systemd_quote(state_dir.string());
        // A private /tmp would hide a state dir that lives in the shared one from the agent.
        values["TK_PRIVATE_TMP"] = in_shared_tmp(state_dir) ? "no" : "yes";
    }
    auto file = [&](const char* name, std::string_view text) {
        return ServiceFile{dir / name, agent.empty() ? std::string() : detail::render(text, values)};
    };
    plan.files = {file(kSocketUnit, templates::systemd_socket()), file(kServiceUnit, templates::systemd_service())};
    plan.probe = {{"systemctl", "--user", "show-environment"}};
    plan.load = {{{"systemctl", "--user", "daemon-reload"}},
                 {{"systemctl", "--user", "enable", "--now", kSocketUnit}},
                 // An upgrade: a running agent is restarted on the new binary; otherwise a no-op.
                 {{"systemctl", "--user", "try-restart", kServiceUnit}}};
    // enable --now leaves an active socket as it was: a new ListenStream= needs a restart.
    plan.socket_changed = {{{"systemctl", "--user", "restart", kSocketUnit}}};
    plan.unload = {{{"systemctl", "--user", "disable", "--now", kSocketUnit, kServiceUnit}, true}};
    plan.after_remove = {{{"systemctl", "--user", "daemon-reload"}, true}};
    plan.logs = std::string("journalctl --user -u ") + kServiceUnit;
    return plan;
}

}  // namespace tk::cli::service
