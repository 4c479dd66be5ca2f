// `tk service` on macOS: the launchd LaunchAgent (a plist with the socket launchd listens on)
// and the launchctl commands that load and unload it.
#include <unistd.h>

#include <map>
#include <string>

#include "service.hpp"
#include "service_plan.hpp"
#include "service_templates.hpp"
#include "tk/common/paths.hpp"

namespace tk::cli::service {
namespace fs = std::filesystem;

namespace {

std::string xml_escape(const std::string& text) {
    std::string escaped;
    for (char c : text) {
        switch (c) {
            case '&': escaped += "&amp;"; break;
            case '<': escaped += "&lt;"; break;
            case '>': escaped += "&gt;"; break;
            case '"': escaped += "&quot;"; break;
            default: escaped += c;
        }
    }
    return escaped;
}

fs::path launch_agents_dir() { return tk::home_directory() / "Library" / "LaunchAgents"; }

}  // namespace

std::string launchd_domain() { return "gui/" + std::to_string(::getuid()); }

Plan launchd_plan(const fs::path& agent) {
    Plan plan;
    // An agent and its clients must agree on the socket and the state dir: when this shell
    // overrides them, the service is told the same.
    const char* socket_override = env_or_null("TELEMETRY_KIT_SOCKET");
    const char* home_override = env_or_null("TELEMETRY_KIT_HOME");
    plan.what = "a launchd LaunchAgent";
    const fs::path plist = launch_agents_dir() / (std::string(kLaunchdLabel) + ".plist");
    const fs::path log = tk::home_directory() / "Library" / "Logs" / "telemetry-kit" / "agent.log";
    const fs::path socket = tk::resolve_paths().socket;
    std::string text;
    if (!agent.empty()) {
        std::string environment;
        if (socket_override || home_override) {
            environment = "  <key>EnvironmentVariables</key>\n  <dict>\n";
            if (socket_override) {
                environment +=
                    "    <key>TELEMETRY_KIT_SOCKET</key>\n    <string>" + xml_escape(socket_override) + "</string>\n";
            }
            if (home_override) {
                environment +=
                    "    <key>TELEMETRY_KIT_HOME</key>\n    <string>" + xml_escape(home_override) + "</string>\n";
            }
            environment += "  </dict>\n";
        }
        text = detail::render(templates::launchd_plist(), {{"TK_AGENT_PATH", xml_escape(agent.string())},
                                                           {"TK_SOCKET_PATH", xml_escape(socket.string())},
                                                           {"TK_ENVIRONMENT", environment},
                                                           {"TK_LOG_PATH", xml_escape(log.string())}});
    }
    plan.files = {{plist, text}};
    plan.directories = {socket.parent_path(), log.parent_path()};
    const std::string domain = launchd_domain();
    const std::string service = domain + "/" + kLaunchdLabel;
    plan.probe = {{"launchctl", "print", domain}};
    plan.load = {{{"launchctl", "bootout", service}, true},  // an upgrade: unload the old definition first
                 {{"launchctl", "enable", service}},
                 {{"launchctl", "bootstrap", domain, plist.string()}}};
    plan.unload = {{{"launchctl", "bootout", service}, true}};
    plan.logs = log.string();
    return plan;
}

}  // namespace tk::cli::service
