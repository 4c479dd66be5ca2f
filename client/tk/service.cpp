// `tk service install|uninstall|status` (service.hpp): carries out the platform's plan
// (service_systemd.cpp, service_launchd.cpp) — writes the files, runs the service manager's
// commands, says what it did and how to read the agent's log.
#include "service.hpp"

#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "commands.hpp"
#include "service_plan.hpp"
#include "subprocess.hpp"
#include "tk/common/paths.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::cli {
namespace fs = std::filesystem;

namespace service {

const char* env_or_null(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace service

using namespace service;  // the plans (service_plan.hpp)

namespace detail {

std::string render(std::string_view text, const std::map<std::string, std::string>& values) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t open = text.find('@', pos);
        if (open == std::string_view::npos) break;
        const std::size_t close = text.find('@', open + 1);
        if (close == std::string_view::npos) break;
        const std::string name(text.substr(open + 1, close - open - 1));
        const bool placeholder =
            !name.empty() && name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string::npos;
        if (!placeholder) {  // an ordinary '@' (an e-mail address in a comment, say)
            out.append(text.substr(pos, open + 1 - pos));
            pos = open + 1;
            continue;
        }
        const auto value = values.find(name);
        if (value == values.end()) throw std::logic_error("service template placeholder @" + name + "@ has no value");
        out.append(text.substr(pos, open - pos));
        out.append(value->second);
        pos = close + 1;
    }
    out.append(text.substr(pos));
    return out;
}

}  // namespace detail

namespace {

Plan make_plan(ServicePlatform platform, const fs::path& agent) {
    return platform == ServicePlatform::systemd ? systemd_plan(agent) : launchd_plan(agent);
}

/// This executable's path, or empty if it cannot be known.
fs::path own_executable() {
#ifdef __APPLE__
    char buffer[4096];
    std::uint32_t size = sizeof buffer;
    if (_NSGetExecutablePath(buffer, &size) != 0) return {};
    std::error_code ec;
    const fs::path path = fs::canonical(buffer, ec);
    return ec ? fs::path() : path;
#else
    std::error_code ec;
    const fs::path path = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : path;
#endif
}

bool is_executable(const fs::path& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

/// The tk-agent the service runs: --agent, else the one installed next to tk, else the first on PATH.
std::optional<fs::path> find_agent(const fs::path& requested) {
    std::error_code ec;
    if (!requested.empty()) {
        if (!is_executable(requested)) {
            std::cerr << "tk: --agent " << requested.string() << " is not an executable file\n";
            return std::nullopt;
        }
        return fs::absolute(requested, ec);
    }
    const fs::path self = own_executable();
    if (!self.empty() && is_executable(self.parent_path() / "tk-agent")) return self.parent_path() / "tk-agent";
    if (const char* path = env_or_null("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            const std::size_t colon = rest.find(':');
            const fs::path dir(std::string(rest.substr(0, colon)));
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
            if (!dir.is_absolute()) continue;  // a relative PATH entry would make the unit depend on tk's cwd
            if (is_executable(dir / "tk-agent")) return dir / "tk-agent";
        }
    }
    std::cerr << "tk: cannot find tk-agent next to tk"
              << (self.empty() ? "" : " (in " + self.parent_path().string() + ")")
              << " or on PATH; pass --agent /path/to/tk-agent\n";
    return std::nullopt;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Writes `text` to `path` by rename, so a manager never reads half a file.
tk::Result<void> write_atomically(const fs::path& path, const std::string& text) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return tk::Error{"cannot create " + path.parent_path().string() + ": " + ec.message()};
    const fs::path temp = path.string() + ".tk-new";
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out) return tk::Error{"cannot write " + temp.string() + ": " + std::strerror(errno)};
    }
    fs::permissions(
        temp, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read, ec);
    fs::rename(temp, path, ec);
    if (ec) {
        fs::remove(temp, ec);
        return tk::Error{"cannot replace " + path.string() + ": " + ec.message()};
    }
    return {};
}

/// What to do when the service manager cannot be reached. Printed once, after its own error.
void explain_manager_unavailable(ServicePlatform platform, const Plan& plan) {
    if (platform == ServicePlatform::systemd) {
        std::cerr << "tk: systemd's user manager is not reachable, so the agent was not enabled or started.\n"
                     "    The unit files are in place ("
                  << plan.files.front().path.parent_path().string()
                  << ").\n"
                     "    - On a server without a login session, let your user manager run without one:\n"
                     "          sudo loginctl enable-linger $USER\n"
                     "      then log in again (or export XDG_RUNTIME_DIR=/run/user/$(id -u)) and run\n"
                     "      `tk service install` once more.\n"
                     "    - Without systemd, run tk-agent under any other supervisor (runit, s6, supervisord,\n"
                     "      a container's init): it stays in the foreground, logs to stderr and exits 0 on\n"
                     "      SIGTERM. While it is down, tools spool their events and it imports them on start.\n";
    } else {
        std::cerr << "tk: launchctl could not load the LaunchAgent, so the agent was not started.\n"
                     "    The plist is in place ("
                  << plan.files.front().path.string()
                  << ").\n"
                     "    LaunchAgents load into a logged-in GUI session (gui/<uid>); over ssh without one,\n"
                     "    run tk-agent under another supervisor, or log in and run `tk service install` again.\n";
    }
}

/// Runs `commands` in order, saying what it runs. Returns false at the first failure that matters.
bool run_all(const std::vector<Command>& commands) {
    for (const auto& command : commands) {
        std::cout << "running: " << command_line(command.argv) << "\n" << std::flush;
        const CommandResult result = run_command(command.argv);
        if (result.exit_code == 0) continue;
        if (result.exit_code == 127) {
            std::cerr << "tk: " << command.argv.front() << " was not found on PATH\n";
        } else if (command.may_fail) {
            std::cout << "  (exit " << result.exit_code << "; fine: nothing of ours was loaded)\n";
            continue;
        } else {
            std::cerr << "tk: `" << command_line(command.argv) << "` failed (exit " << result.exit_code << ")\n";
        }
        if (!command.may_fail) return false;
    }
    return true;
}

void print_dry_run(const Plan& plan, const std::vector<const std::vector<Command>*>& command_lists,
                   const std::vector<fs::path>& removed) {
    for (const auto& file : plan.files) {
        if (file.text.empty()) continue;
        std::cout << "would write " << file.path.string() << ":\n" << file.text;
        if (!file.text.empty() && file.text.back() != '\n') std::cout << "\n";
        std::cout << "--- end of " << file.path.filename().string() << "\n";
    }
    for (const auto& dir : plan.directories) std::cout << "would create the directory " << dir.string() << " (0700)\n";
    for (const auto* commands : command_lists) {
        for (const auto& command : *commands) std::cout << "would run: " << command_line(command.argv) << "\n";
    }
    for (const auto& path : removed) std::cout << "would remove " << path.string() << "\n";
    std::cout << "(dry run: nothing was written, run or removed)\n";
}

/// True if a running agent holds the state dir's lock.
bool agent_holds_lock(const tk::Paths& paths) {
    const UniqueFd fd(::open(paths.agent_lock().c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) return false;
    return ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

int purge_data(const tk::Paths& paths) {
    if (agent_holds_lock(paths)) {
        std::cerr << "tk: an agent is still running with " << paths.state_dir.string()
                  << "; stop it first (it exits cleanly on SIGTERM), then run `tk service uninstall --purge` again\n";
        return kExitFailed;
    }
    std::size_t removed = 0;
    std::error_code ec;
    for (const auto& file : paths.owned_files()) {
        if (fs::remove(file, ec)) {
            std::cout << "removed " << file.string() << "\n";
            ++removed;
        } else if (ec) {
            std::cerr << "tk: cannot remove " << file.string() << ": " << ec.message() << "\n";
            return kExitFailed;
        }
    }
    for (const auto& dir : {paths.state_dir, paths.config_dir}) {
        if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) {
            fs::remove(dir, ec);
            std::cout << "removed " << dir.string() << "/\n";
        } else if (fs::exists(dir, ec)) {
            std::cout << "kept " << dir.string() << "/: it holds files that are not telemetry-kit's\n";
        }
    }
    std::cout << "purged " << removed
              << " data files: the queue, spool, install secret, sent log and config are gone\n";
    return kExitOk;
}

}  // namespace

ServicePlatform native_service_platform() {
#ifdef __APPLE__
    return ServicePlatform::launchd;
#else
    return ServicePlatform::systemd;
#endif
}

int service_install(const ServiceOptions& options) {
    const auto agent = find_agent(options.agent);
    if (!agent) return kExitFailed;
    const Plan plan = make_plan(options.platform, *agent);
    if (!plan.problem.empty()) {
        std::cerr << "tk: " << plan.problem << "\n";
        return kExitFailed;
    }
    if (options.dry_run) {
        std::cout << "tk service install --dry-run: " << plan.what << " running " << agent->string() << "\n";
        print_dry_run(plan, {&plan.load}, {});
        return kExitOk;
    }
    bool socket_changed = false;
    for (const auto& file : plan.files) {
        std::error_code ec;
        const bool existed = fs::exists(file.path, ec);
        if (existed && read_text(file.path) == file.text) {
            std::cout << "unchanged " << file.path.string() << "\n";
            continue;
        }
        if (existed && file.path.filename() == kSocketUnit) socket_changed = true;
        if (const auto written = write_atomically(file.path, file.text); !written) {
            std::cerr << "tk: " << written.error() << "\n";
            return kExitFailed;
        }
        std::cout << (existed ? "updated " : "wrote ") << file.path.string() << "\n";
    }
    for (const auto& dir : plan.directories) {
        if (const auto made = tk::ensure_private_dir(dir); !made) {
            std::cerr << "tk: " << made.error() << "\n";
            return kExitFailed;
        }
    }
    if (run_command(plan.probe.argv, true).exit_code != 0) {
        std::cerr << "tk: `" << command_line(plan.probe.argv) << "` failed\n";
        explain_manager_unavailable(options.platform, plan);
        return kExitServiceManager;
    }
    if (!run_all(plan.load) || (socket_changed && !run_all(plan.socket_changed))) {
        std::cerr << "tk: the files are in place, but the service manager refused them; its log says why:\n    "
                  << plan.logs << "\n";
        return kExitFailed;
    }
    std::cout << "installed " << plan.what << ": the agent (" << agent->string()
              << ") starts on the first connection to " << tk::resolve_paths().socket.string()
              << " and exits when idle.\n"
                 "check: tk service status; tk status\n"
                 "logs:  "
              << plan.logs << "\n";
    return kExitOk;
}

int service_uninstall(const ServiceOptions& options) {
    const Plan plan = make_plan(options.platform, {});
    const tk::Paths paths = tk::resolve_paths();
    std::vector<fs::path> present;
    std::error_code ec;
    for (const auto& file : plan.files) {
        if (fs::exists(file.path, ec)) present.push_back(file.path);
    }
    if (options.dry_run) {
        std::cout << "tk service uninstall --dry-run: " << plan.what << "\n";
        std::vector<fs::path> removed = present;
        if (options.purge) {
            for (const auto& file : paths.owned_files()) {
                if (fs::exists(file, ec)) removed.push_back(file);
            }
        }
        print_dry_run(plan, {&plan.unload, &plan.after_remove}, removed);
        return kExitOk;
    }
    if (present.empty()) std::cout << "no " << plan.what << " of telemetry-kit's were installed\n";
    const bool manager_ok = run_all(plan.unload);
    for (const auto& path : present) {
        if (!fs::remove(path, ec) && ec) {
            std::cerr << "tk: cannot remove " << path.string() << ": " << ec.message() << "\n";
            return kExitFailed;
        }
        std::cout << "removed " << path.string() << "\n";
    }
    run_all(plan.after_remove);
    if (!manager_ok) {
        std::cerr << "tk: the service manager could not be asked to stop the agent; if one is still running,\n"
                     "    stop it yourself (it exits cleanly on SIGTERM)\n";
    }
    if (options.purge) return purge_data(paths);
    std::cout << "your data stays in " << paths.state_dir.string()
              << " (queued events, install secret); `tk service uninstall --purge` deletes it\n";
    return kExitOk;
}

int service_status(const ServiceOptions& options) {
    const Plan plan = make_plan(options.platform, {});
    std::error_code ec;
    std::vector<std::string> missing;
    for (const auto& file : plan.files) {
        if (!fs::exists(file.path, ec)) missing.push_back(file.path.string());
    }
    std::cout << "telemetry-kit agent as " << plan.what << "\n";
    if (missing.size() == plan.files.size()) {
        std::cout << "  not installed (no " << plan.files.front().path.string() << "); run `tk service install`\n";
        return kExitFailed;
    }
    for (const auto& file : plan.files) {
        std::cout << "  " << (fs::exists(file.path, ec) ? "installed " : "MISSING   ") << file.path.string() << "\n";
    }
    auto query = [](std::vector<std::string> argv) {
        CommandResult result = run_command(argv, true);
        while (!result.out.empty() && (result.out.back() == '\n' || result.out.back() == ' ')) result.out.pop_back();
        return result;
    };
    bool active = false;
    if (options.platform == ServicePlatform::systemd) {
        if (query(plan.probe.argv).exit_code != 0) {
            std::cout << "  systemd's user manager is not reachable (no login session?); `tk service install`\n"
                         "  explains the ways around that\n";
            return kExitServiceManager;
        }
        const auto enabled = query({"systemctl", "--user", "is-enabled", kSocketUnit});
        const auto socket_state = query({"systemctl", "--user", "is-active", kSocketUnit});
        const auto service_state = query({"systemctl", "--user", "is-active", kServiceUnit});
        std::cout << "  socket: " << enabled.out << ", " << socket_state.out << "\n"
                  << "  agent:  " << service_state.out
                  << (service_state.out == "inactive" ? " (started by the next connection)" : "") << "\n";
        if (socket_state.out == "failed" || service_state.out == "failed") {
            // An agent that keeps failing (a bad agent.conf, say) hits systemd's start limit, and
            // the socket gives up with it; both stay failed until told otherwise.
            std::cout << "  the agent failed; its log (below) says why. Once fixed:\n"
                         "      systemctl --user reset-failed "
                      << kServiceUnit << " " << kSocketUnit << "\n      systemctl --user start " << kSocketUnit << "\n";
        }
        active = socket_state.exit_code == 0;
    } else {
        const auto loaded = query({"launchctl", "print", launchd_domain() + "/" + kLaunchdLabel});
        std::cout << "  launchd: " << (loaded.exit_code == 0 ? "loaded" : "not loaded") << "\n";
        active = loaded.exit_code == 0;
    }
    std::cout << "  logs:   " << plan.logs << "\n";
    return missing.empty() && active ? kExitOk : kExitFailed;
}

}  // namespace tk::cli
