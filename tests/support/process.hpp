#pragma once
/// Test helpers that start real processes: child processes with a hermetic environment,
/// waits on conditions with deadlines (never a bare sleep), temp dirs, free ports.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tk::test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "tk-test-");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& name) const { return path_ / name; }

private:
    fs::path path_;
};

/// Path of a binary this build made (tk-agent, tk, tk-collector, demo-cli, ...).
fs::path binary(const std::string& name);

/// Polls `condition` (every ~2 ms, backing off to 20 ms) until it is true or `deadline` passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline = 10s);

/// True once a connect() to the Unix socket at `path` succeeds, within `deadline`.
bool wait_for_unix_socket(const fs::path& path, std::chrono::milliseconds deadline = 10s);
/// True once a connect() to 127.0.0.1:`port` succeeds, within `deadline`.
bool wait_for_tcp_port(unsigned short port, std::chrono::milliseconds deadline = 10s);
/// A TCP port on 127.0.0.1 that was free a moment ago.
unsigned short free_tcp_port();

/// Environment for a child (and the agent) that never touches the real home directory:
/// HOME, XDG_*, TELEMETRY_KIT_HOME and TELEMETRY_KIT_SOCKET all under `root`.
std::map<std::string, std::string> hermetic_env(const fs::path& root);

struct ProcessOptions {
    std::vector<std::string> argv;           ///< argv[0] is the program path
    std::map<std::string, std::string> env;  ///< set on top of the inherited environment
    std::vector<std::string> unset_env;      ///< removed from the inherited environment
    /// Remove DO_NOT_TRACK, *_TELEMETRY_DISABLED and CI markers, so CI=true on the test machine
    /// does not change what a test sees. Tests that want them set them in `env`.
    bool scrub_opt_out_signals = true;
    std::optional<fs::path> stdout_file;     ///< default: inherit
    std::optional<fs::path> stderr_file;     ///< default: inherit
    std::optional<std::string> stdin_data;   ///< written to the child's stdin, then closed
    std::optional<std::string> run_as_user;  ///< setuid/setgid to this user (needs root)
    std::optional<fs::path> cwd;
    /// RLIMIT_NOFILE (soft and hard) set in the child before exec, so it cannot raise it again.
    std::optional<unsigned long> max_open_files;
};

/// A running child process; killed (SIGKILL) and reaped on destruction if still running.
class ChildProcess {
public:
    explicit ChildProcess(const ProcessOptions& options);
    ~ChildProcess();
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&&) = delete;
    ChildProcess(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// True while the child has not exited.
    bool running();
    /// Sends `signal`.
    void signal(int signal);
    /// Waits up to `deadline` for exit; returns the exit code (128+signal if killed) or nullopt.
    std::optional<int> wait(std::chrono::milliseconds deadline = 10s);
    /// SIGTERM, wait up to `deadline`, then SIGKILL. Returns the exit code.
    int stop(std::chrono::milliseconds deadline = 10s);
    /// SIGKILL and reap.
    void kill();

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

struct RunResult {
    int exit_code = -1;  ///< 128+signal if killed; -1 if it did not finish by the deadline
    std::string out;
    std::string err;
};

/// Runs a command to completion (killed after `deadline`) and captures its output.
RunResult run(const ProcessOptions& options, std::chrono::milliseconds deadline = 30s);

/// Contents of a file, or "" if it cannot be read.
std::string read_file(const fs::path& path);

}  // namespace tk::test
