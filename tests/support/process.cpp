#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tk/common/ci.hpp"

extern char** environ;

namespace tk::test {

TempDir::TempDir(const std::string& prefix) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = (fs::path(base && *base ? base : "/tmp") / (prefix + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    }
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

fs::path binary(const std::string& name) {
    static const std::map<std::string, std::string> known = {
        {"tk-agent", TK_AGENT_BINARY},
        {"tk", TK_CLI_BINARY},
        {"tk-collector", TK_COLLECTOR_BINARY},
        {"demo-cli", TK_DEMO_BINARY},
    };
    if (auto it = known.find(name); it != known.end()) return it->second;
    return fs::path(TK_BINARY_DIR) / name;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    auto pause = std::chrono::milliseconds(2);
    while (true) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= end) return condition();
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
}

namespace {

bool unix_connects(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

bool tcp_connects(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

bool wait_for_unix_socket(const fs::path& path, std::chrono::milliseconds deadline) {
    return wait_until([&] { return unix_connects(path); }, deadline);
}

bool wait_for_tcp_port(unsigned short port, std::chrono::milliseconds deadline) {
    return wait_until([&] { return tcp_connects(port); }, deadline);
}

unsigned short free_tcp_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::map<std::string, std::string> hermetic_env(const fs::path& root) {
    return {
        {"HOME", (root / "home").string()},
        {"XDG_RUNTIME_DIR", (root / "run").string()},
        {"XDG_STATE_HOME", (root / "state").string()},
        {"XDG_CONFIG_HOME", (root / "config").string()},
        {"TELEMETRY_KIT_HOME", (root / "tk-home").string()},
        {"TELEMETRY_KIT_SOCKET", (root / "run" / "agent.sock").string()},
    };
}

namespace {

bool is_opt_out_signal(const std::string& name) {
    if (name == "DO_NOT_TRACK" || name == "TELEMETRY_KIT_DEBUG") return true;
    static const std::string suffix = "_TELEMETRY_DISABLED";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return true;
    }
    for (const char* ci : tk::kCiVariables) {
        if (name == ci) return true;
    }
    return false;
}

std::vector<std::string> child_environment(const ProcessOptions& options) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry(*e);
        const auto eq = entry.find('=');
        if (eq == std::string::npos) continue;
        env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    if (options.scrub_opt_out_signals) {
        for (auto it = env.begin(); it != env.end();) {
            it = is_opt_out_signal(it->first) ? env.erase(it) : std::next(it);
        }
    }
    for (const auto& name : options.unset_env) env.erase(name);
    for (const auto& [name, value] : options.env) env[name] = value;
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [name, value] : env) out.push_back(name + "=" + value);
    return out;
}

[[noreturn]] void child_fail(const char* what) {
    const std::string message = std::string("child setup failed: ") + what + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, message.data(), message.size());
    ::_exit(127);
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

}  // namespace

ChildProcess::ChildProcess(const ProcessOptions& options) {
    if (options.argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
    std::vector<std::string> env_strings = child_environment(options);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = options.argv;
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    uid_t uid = 0;
    gid_t gid = 0;
    if (options.run_as_user) {
        const passwd* pw = ::getpwnam(options.run_as_user->c_str());
        if (pw == nullptr) throw std::runtime_error("no such user: " + *options.run_as_user);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }

    int stdin_pipe[2] = {-1, -1};
    if (options.stdin_data && ::pipe2(stdin_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
    if (pid_ == 0) {
        ::setpgid(0, 0);
        if (options.stdin_data) {
            ::dup2(stdin_pipe[0], 0);
        } else {
            const int devnull = ::open("/dev/null", O_RDONLY);
            ::dup2(devnull, 0);
        }
        if (options.stdout_file) {
            const int fd = ::open(options.stdout_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) child_fail("open stdout");
            ::dup2(fd, 1);
        }
        if (options.stderr_file) {
            const int fd = ::open(options.stderr_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) child_fail("open stderr");
            ::dup2(fd, 2);
        }
        if (options.cwd && ::chdir(options.cwd->c_str()) != 0) child_fail("chdir");
        if (options.max_open_files) {
            const rlimit limit{static_cast<rlim_t>(*options.max_open_files),
                               static_cast<rlim_t>(*options.max_open_files)};
            if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) child_fail("setrlimit");
        }
        if (options.run_as_user) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) child_fail("setuid");
        }
        ::execve(argv[0], argv.data(), envp.data());
        child_fail(argv[0]);
    }
    if (options.stdin_data) {
        ::close(stdin_pipe[0]);
        const std::string& data = *options.stdin_data;
        std::size_t written = 0;
        ::signal(SIGPIPE, SIG_IGN);
        while (written < data.size()) {
            const ssize_t n = ::write(stdin_pipe[1], data.data() + written, data.size() - written);
            if (n <= 0) break;
            written += static_cast<std::size_t>(n);
        }
        ::close(stdin_pipe[1]);
    }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), status_(other.status_) {
    other.pid_ = -1;
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !status_) kill();
}

bool ChildProcess::running() {
    if (pid_ <= 0 || status_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        status_ = decode_status(status);
        return false;
    }
    return r == 0;
}

void ChildProcess::signal(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds deadline) {
    if (status_) return status_;
    wait_until([&] { return !running(); }, deadline);
    return status_;
}

int ChildProcess::stop(std::chrono::milliseconds deadline) {
    signal(SIGTERM);
    if (auto code = wait(deadline)) return *code;
    kill();
    return status_.value_or(-1);
}

void ChildProcess::kill() {
    if (pid_ <= 0 || status_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = decode_status(status);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

RunResult run(const ProcessOptions& options, std::chrono::milliseconds deadline) {
    TempDir dir("tk-run-");
    ProcessOptions opts = options;
    opts.stdout_file = dir / "stdout";
    opts.stderr_file = dir / "stderr";
    ChildProcess child(opts);
    RunResult result;
    if (auto code = child.wait(deadline)) {
        result.exit_code = *code;
    } else {
        child.kill();
        result.exit_code = -1;
    }
    result.out = read_file(dir / "stdout");
    result.err = read_file(dir / "stderr");
    return result;
}

}  // namespace tk::test
