// Runs a service manager command (subprocess.hpp) with posix_spawn, capturing its output.
#include "subprocess.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "tk/common/unique_fd.hpp"

extern char** environ;

namespace tk::cli {

CommandResult run_command(const std::vector<std::string>& argv, bool capture_stdout) {
    CommandResult result;
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);

    UniqueFd read_end, write_end;  // of the pipe that captures the command's stdout
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (capture_stdout) {
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0) {
            posix_spawn_file_actions_destroy(&actions);
            std::cerr << "tk: cannot run " << argv.front() << ": " << std::strerror(errno) << "\n";
            return result;
        }
        read_end.reset(pipe_fds[0]);
        write_end.reset(pipe_fds[1]);
        posix_spawn_file_actions_addclose(&actions, read_end.get());
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, write_end.get());
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid = -1;
    const int spawn_error = ::posix_spawnp(&pid, args.front(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    write_end.reset();  // the child has its copy; ours would keep the read below from seeing EOF
    if (spawn_error != 0) {
        result.exit_code = 127;
        return result;
    }
    if (capture_stdout) {
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
            if (n > 0) {
                result.out.append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                break;
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

std::string command_line(const std::vector<std::string>& argv) {
    std::string line;
    for (const auto& arg : argv) {
        if (!line.empty()) line += ' ';
        const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?[]{}()<>|&;#~") == std::string::npos;
        if (plain) {
            line += arg;
            continue;
        }
        line += '\'';
        for (char c : arg) {
            if (c == '\'') {
                line += "'\\''";
            } else {
                line += c;
            }
        }
        line += '\'';
    }
    return line;
}

}  // namespace tk::cli
