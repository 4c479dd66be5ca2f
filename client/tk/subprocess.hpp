#pragma once
// Running the platform's service manager (systemctl, launchctl) from tk.

#include <string>
#include <vector>

namespace tk::cli {

struct CommandResult {
    int exit_code = -1;  ///< 127 when the program cannot be started (not on PATH); 128+n if killed by signal n
    std::string out;     ///< stdout, when captured
};

/// Runs argv[0] (looked up on PATH) with the remaining arguments and waits for it. The child's
/// stderr goes to ours, so the person sees the manager's own message next to tk's explanation.
/// With `capture_stdout` (a query, not an action), stdout is returned in `out` and stderr is
/// discarded.
CommandResult run_command(const std::vector<std::string>& argv, bool capture_stdout = false);

/// `argv` as one line a person could paste into a shell.
std::string command_line(const std::vector<std::string>& argv);

}  // namespace tk::cli
