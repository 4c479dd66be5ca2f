#include "socket_activator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace tk::test {

void write_pid_digits(pid_t pid, char* out) noexcept {
    char digits[20];
    int n = 0;
    for (; pid > 0 || n == 0; pid /= 10) digits[n++] = static_cast<char>('0' + pid % 10);
    for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

namespace {

constexpr int kMaxStarts = 20;

std::runtime_error system_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

int exit_code_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

}  // namespace

SocketActivator::SocketActivator(const std::filesystem::path& socket, std::vector<std::string> argv,
                                 std::map<std::string, std::string> env, const std::filesystem::path& log)
    : argv_(std::move(argv)), log_(log) {
    if (const char* path = std::getenv("PATH"); path != nullptr && env.count("PATH") == 0) env["PATH"] = path;
    for (const auto& [name, value] : env) env_.push_back(name + "=" + value);

    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw system_error("socket");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket.native().size() >= sizeof address.sun_path) {
        ::close(listener_);
        throw std::runtime_error("socket path " + socket.string() + " is too long for a Unix socket (" +
                                 std::to_string(socket.native().size()) + " bytes, at most " +
                                 std::to_string(sizeof address.sun_path - 1) + ")");
    }
    std::memcpy(address.sun_path, socket.c_str(), socket.native().size() + 1);
    std::filesystem::create_directories(socket.parent_path());
    if (::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, SOMAXCONN) != 0) {
        const auto error = system_error("bind/listen " + socket.string());
        ::close(listener_);
        throw error;
    }
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw system_error("pipe2");
    thread_ = std::thread([this] { watch(); });
}

SocketActivator::~SocketActivator() {
    {
        // Under the mutex: spawn() checks stopping_ under it too, so no agent starts after this.
        std::unique_lock lock(mutex_);
        stopping_ = true;
        if (child_ >= 0) {
            // watch() is blocked waiting for this agent; it reaps it and returns.
            ::kill(child_, SIGTERM);
            if (!reaped_.wait_for(lock, std::chrono::seconds(10), [this] { return child_ < 0; })) {
                ::kill(child_, SIGKILL);  // still not reaped: the pid is still this agent's
            }
        }
    }
    char byte = 0;
    (void)!::write(wake_[1], &byte, 1);  // ends a poll() for the next connection
    thread_.join();
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
}

int SocketActivator::starts() const {
    std::lock_guard lock(mutex_);
    return starts_;
}

std::vector<int> SocketActivator::exit_codes() const {
    std::lock_guard lock(mutex_);
    return exit_codes_;
}

std::optional<pid_t> SocketActivator::running() const {
    std::lock_guard lock(mutex_);
    if (child_ < 0) return std::nullopt;
    return child_;
}

void SocketActivator::wait_for_exit(pid_t pid) {
    // Blocks until the agent exits, without reaping it (WNOWAIT): until the waitpid() below, under
    // the mutex, the pid stays this agent's, so the destructor can signal it without a race.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    std::lock_guard lock(mutex_);
    int status = 0;
    const pid_t reaped = ::waitpid(pid, &status, 0);
    exit_codes_.push_back(reaped == pid ? exit_code_of(status) : -1);
    child_ = -1;
    reaped_.notify_all();
}

void SocketActivator::watch() {
    for (;;) {
        pid_t child = -1;
        {
            std::lock_guard lock(mutex_);
            child = child_;
            if (child < 0 && stopping_) return;
        }
        if (child >= 0) {
            // An agent runs and serves the socket itself; wait for it to exit (the destructor
            // ends it with SIGTERM).
            wait_for_exit(child);
            continue;
        }
        // No agent: like systemd, start one as soon as a connection waits in the backlog.
        pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) return;  // the destructor
        if ((fds[0].revents & POLLIN) != 0) {
            // An agent that keeps failing to start would be restarted in a tight loop: give up,
            // as systemd's start rate limit does.
            if (starts() >= kMaxStarts) return;
            spawn();
        }
    }
}

void SocketActivator::spawn() {
    // Everything the child needs is prepared here: after fork() in a threaded process only
    // async-signal-safe calls are allowed.
    std::vector<char*> args;
    for (auto& arg : argv_) args.push_back(arg.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings = env_;
    env_strings.push_back("LISTEN_FDS=1");
    env_strings.push_back("LISTEN_PID=" + std::string(20, '\0'));  // filled in by the child
    std::vector<char*> envp;
    for (auto& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
    char* pid_digits = env_strings.back().data() + std::strlen("LISTEN_PID=");
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    const int max_fd =
        files.rlim_cur == RLIM_INFINITY || files.rlim_cur > 65536 ? 65536 : static_cast<int>(files.rlim_cur);

    std::lock_guard lock(mutex_);
    if (stopping_) return;
    const pid_t pid = ::fork();
    if (pid < 0) return;
    if (pid == 0) {
        // fd 3 first, so the files opened next cannot land on it.
        if (listener_ == 3) {
            ::fcntl(3, F_SETFD, 0);
        } else {
            ::dup2(listener_, 3);
        }
        const int log = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        const int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
        }
        if (log >= 0) ::dup2(log, 2);
        for (int fd = 4; fd < max_fd; ++fd) ::close(fd);  // nothing of the test leaks into the agent
        // LISTEN_PID=<our pid>, written without allocating.
        write_pid_digits(::getpid(), pid_digits);
        ::execve(args[0], args.data(), envp.data());
        ::_exit(127);
    }
    child_ = pid;
    ++starts_;
}

}  // namespace tk::test
