#pragma once
// `tk service`: run the agent as the person's own user service — systemd user units on Linux,
// a launchd LaunchAgent on macOS — with socket activation, so no tool ever starts it by hand.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace tk::cli {

enum class ServicePlatform { systemd, launchd };

/// launchd on macOS, systemd elsewhere.
ServicePlatform native_service_platform();

struct ServiceOptions {
    ServicePlatform platform = native_service_platform();
    bool dry_run = false;         ///< print what would be written and run; change nothing
    bool purge = false;           ///< uninstall: also delete the queue, spool, install secret and config
    std::filesystem::path agent;  ///< the tk-agent to run; empty: the one next to tk, else on PATH
};

/// Writes the unit files (or plist) for the current user, then enables and starts them.
int service_install(const ServiceOptions& options);
/// Stops and disables the service and removes its files; the data stays unless `purge`.
int service_uninstall(const ServiceOptions& options);
/// Says whether the files are installed and what the service manager reports.
int service_status(const ServiceOptions& options);

namespace detail {
/// Replaces each @NAME@ in `text` with values.at(NAME). A placeholder without a value is a bug
/// in tk (std::logic_error), never something a person's input can cause.
std::string render(std::string_view text, const std::map<std::string, std::string>& values);
}  // namespace detail

}  // namespace tk::cli
