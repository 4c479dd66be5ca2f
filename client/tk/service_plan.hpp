#pragma once
// Internal to `tk service`: what installing the agent as a user service means on each platform —
// the files to write and the commands that load them (service_systemd.cpp, service_launchd.cpp).
// service.cpp carries a plan out; the plans themselves only compute text and argv.

#include <filesystem>
#include <string>
#include <vector>

namespace tk::cli::service {

inline constexpr const char* kSocketUnit = "telemetry-kit-agent.socket";
inline constexpr const char* kServiceUnit = "telemetry-kit-agent.service";
inline constexpr const char* kLaunchdLabel = "dev.telemetry-kit.agent";

struct Command {
    std::vector<std::string> argv;
    bool may_fail = false;  ///< e.g. unloading what is not loaded
};

struct ServiceFile {
    std::filesystem::path path;
    std::string text;  ///< empty when only the location is needed (uninstall, status)
};

/// Everything that differs between systemd and launchd: the files, and the commands that load
/// them into the service manager and take them out again.
struct Plan {
    std::string what;  ///< "systemd user units", for messages
    std::vector<ServiceFile> files;
    std::vector<std::filesystem::path> directories;  ///< made (0700) before loading: launchd makes none itself
    Command probe;                                   ///< succeeds if the service manager can be reached
    std::vector<Command> load;                       ///< after writing the files
    std::vector<Command> socket_changed;             ///< after `load`, when the socket's definition changed
    std::vector<Command> unload;                     ///< before removing them
    std::vector<Command> after_remove;
    std::string logs;     ///< how to read the agent's log
    std::string problem;  ///< set if this environment cannot be written as a service
};

/// A variable's value if set and not empty, else nullptr.
const char* env_or_null(const char* name);

/// The files and commands for systemd user units (socket activation). With an empty `agent`, the
/// files' text is left empty (enough for uninstall and status).
Plan systemd_plan(const std::filesystem::path& agent);
/// The same for a launchd LaunchAgent.
Plan launchd_plan(const std::filesystem::path& agent);
/// "gui/<uid>": the launchd domain of this user.
std::string launchd_domain();

}  // namespace tk::cli::service
