#pragma once
// The tk commands. Each returns the process exit code (see kExit*).

#include <filesystem>
#include <string>
#include <vector>

namespace tk::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;          ///< the agent answered with an error, or the reply was bad
inline constexpr int kExitUsage = 2;           ///< bad command line
inline constexpr int kExitNoAgent = 3;         ///< no agent is running on the socket
inline constexpr int kExitServiceManager = 4;  ///< systemctl --user / launchctl is not reachable or failed

struct Common {
    std::filesystem::path socket;
    bool json = false;
};

int status(const Common& common);
int consent(const Common& common, const std::string& action, const std::string& tool, bool all);
int events(const Common& common, const std::string& tool, unsigned limit);
int flush(const Common& common);
int forget(const Common& common, const std::string& tool, bool all);
int manifest(const Common& common, const std::string& tool);

struct TrackOptions {
    std::string tool;
    std::string event;
    std::vector<std::string> attributes;  ///< key=value
    std::string version;
    std::string kind = "custom";
    std::string endpoint;
    std::string ingest_key;
    bool opt_out = false;
    bool allow_ci = false;
    bool local_only = false;
    unsigned timeout_ms = 5000;
};
int track(const Common& common, const TrackOptions& options);

}  // namespace tk::cli
