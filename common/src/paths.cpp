// Per-user paths (paths.hpp): the socket, state and config directories from the environment,
// and ensure_private_dir().
#include "tk/common/paths.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tk {
namespace fs = std::filesystem;

namespace {

const char* non_empty(const EnvLookup& env, const char* name) {
    const char* value = env(name);
    return (value != nullptr && *value != '\0') ? value : nullptr;
}

fs::path home_dir_of(const EnvLookup& env) {
    if (const char* home = non_empty(env, "HOME")) return home;
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
    return fs::path("/tmp") / ("telemetry-kit-home-" + std::to_string(getuid()));
}

EnvLookup process_env_or(const EnvLookup& lookup) {
    return lookup ? lookup : EnvLookup([](const char* name) { return std::getenv(name); });
}

}  // namespace

std::vector<fs::path> Paths::owned_files() const {
    const fs::path db = database();
    return {db,
            db.string() + "-wal",
            db.string() + "-shm",
            db.string() + "-journal",
            spool(),
            spool_importing(),
            install_secret(),
            sent_log(),
            sent_log().string() + ".1",
            agent_lock(),
            state_socket(),
            config_file()};
}

fs::path home_directory(const EnvLookup& env) { return home_dir_of(process_env_or(env)); }

static void resolve_state_and_config(const EnvLookup& env, Paths& paths);
static fs::path socket_path(const EnvLookup& env, const fs::path& state_dir);

Paths resolve_paths(const EnvLookup& lookup) {
    const EnvLookup env = process_env_or(lookup);
    Paths paths;

    if (const char* home = non_empty(env, "TELEMETRY_KIT_HOME")) {
        paths.state_dir = home;
        paths.config_dir = home;
    } else {
        resolve_state_and_config(env, paths);
    }
    paths.socket = socket_path(env, paths.state_dir);
    return paths;
}

void resolve_state_and_config(const EnvLookup& env, Paths& paths) {
#ifdef __APPLE__
    paths.state_dir = home_dir_of(env) / "Library" / "Application Support" / "telemetry-kit";
    paths.config_dir = paths.state_dir;
#else
    if (const char* state = non_empty(env, "XDG_STATE_HOME")) {
        paths.state_dir = fs::path(state) / "telemetry-kit";
    } else {
        paths.state_dir = home_dir_of(env) / ".local" / "state" / "telemetry-kit";
    }
    if (const char* config = non_empty(env, "XDG_CONFIG_HOME")) {
        paths.config_dir = fs::path(config) / "telemetry-kit";
    } else {
        paths.config_dir = home_dir_of(env) / ".config" / "telemetry-kit";
    }
#endif
}

fs::path socket_path(const EnvLookup& env, const fs::path& state_dir) {
    if (const char* socket = non_empty(env, "TELEMETRY_KIT_SOCKET")) return socket;
    if (const char* runtime = non_empty(env, "XDG_RUNTIME_DIR"))
        return fs::path(runtime) / "telemetry-kit" / "agent.sock";
    // No runtime dir (cron, ssh without a session, containers, su): the state dir, in the person's
    // home, where no other user can create the directory first and stand in for the agent (a
    // guessable name under /tmp could be taken by anyone). On macOS that is also where launchd's
    // socket lives (a directory in the user's Library outlives reboots).
    fs::path in_state = Paths{{}, state_dir, {}}.state_socket();
    if (in_state.native().size() < kMaxSocketPathBytes) return in_state;
    // Too long for sockaddr_un: a per-uid directory under /tmp. Another user could create it
    // first, but then the agent refuses to start in it and clients refuse to send to it (they
    // check the directory's owner and the peer's uid), so the worst case is that events are spooled.
    return fs::path("/tmp") / ("telemetry-kit-" + std::to_string(getuid())) / "agent.sock";
}

Result<void> ensure_private_dir(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error{"cannot create " + dir.string() + ": " + ec.message()};
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return Error{"cannot stat " + dir.string() + ": " + std::strerror(errno)};
    if (!S_ISDIR(st.st_mode)) return Error{dir.string() + " is not a directory"};
    if (st.st_uid != ::geteuid()) return Error{dir.string() + " is owned by another user"};
    if ((st.st_mode & 0777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
        return Error{"cannot make " + dir.string() + " private: " + std::strerror(errno)};
    }
    return {};
}

}  // namespace tk
