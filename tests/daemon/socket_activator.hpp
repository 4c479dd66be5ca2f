#pragma once
/// A test stand-in for a systemd .socket unit (or launchd's Sockets): it holds a listening Unix
/// socket for as long as it lives, and whenever no agent runs and a connection is waiting (the
/// socket polls readable), it starts the agent with the listener as fd 3 — LISTEN_FDS=1 and
/// LISTEN_PID set in the child to its own pid, as systemd does. It reaps each agent and keeps
/// its exit code, and counts starts. Paths too long for sockaddr_un are refused (the constructor
/// throws), not truncated. Connections made while no agent runs wait in the socket's
/// backlog, exactly as under systemd.

#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tk::test {

/// Writes the decimal digits of `pid` and a NUL into `out` (room for 20 chars) without allocating:
/// for LISTEN_PID=, between fork() and exec().
void write_pid_digits(pid_t pid, char* out) noexcept;

class SocketActivator {
public:
    /// Binds and listens on `socket` at once; `argv[0]` is the program. The child's environment
    /// is PATH plus `env` (nothing else inherited); its stderr is appended to `log`.
    SocketActivator(const std::filesystem::path& socket, std::vector<std::string> argv,
                    std::map<std::string, std::string> env, const std::filesystem::path& log);
    /// SIGTERMs a running agent (SIGKILL after 10 s), stops watching, closes the listener.
    ~SocketActivator();
    SocketActivator(const SocketActivator&) = delete;
    SocketActivator& operator=(const SocketActivator&) = delete;

    /// How many times the agent was started.
    int starts() const;
    /// Exit codes (128+signal if killed) of the agents that have exited, in order.
    std::vector<int> exit_codes() const;
    /// The pid of the running agent, if one runs.
    std::optional<pid_t> running() const;

private:
    void watch();
    void spawn();
    /// Blocks until `pid` exits, then reaps it and records its exit code.
    void wait_for_exit(pid_t pid);

    int listener_ = -1;
    int wake_[2] = {-1, -1};  // the destructor writes here to end watch()
    std::vector<std::string> argv_;
    std::vector<std::string> env_;
    std::filesystem::path log_;
    mutable std::mutex mutex_;
    std::condition_variable reaped_;  // signalled (under mutex_) when child_ becomes -1
    bool stopping_ = false;           // under mutex_
    pid_t child_ = -1;
    int starts_ = 0;
    std::vector<int> exit_codes_;
    std::thread thread_;
};

}  // namespace tk::test
