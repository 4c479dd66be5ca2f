#pragma once
/// Trust checks for the places telemetry-kit shares with nobody: the agent's socket directory, the
/// state directory and the spool file in it. Another local user must not be able to stand in for
/// them (pre-create the directory, plant a symlink or a FIFO): what a tool records would then go to
/// that user, or the tool would hang at exit. Each check says why in words a person understands.

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace tk {

/// The decision, from what stat() said: empty if a directory owned by `me` that neither group nor
/// others can write to, else why not (naming `dir`).
std::string judge_private_dir(const std::filesystem::path& dir, bool is_directory, uid_t owner, mode_t mode, uid_t me);

/// stat()s `dir` and judges it. A missing directory is not refused (empty): nothing is in it.
std::string untrusted_dir_reason(const std::filesystem::path& dir) noexcept;

/// Opens `file` with `flags` | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC (so a planted symlink is refused
/// and a planted FIFO can never block) and keeps it only if it is a regular file owned by us that
/// neither group nor others can write to. Returns the descriptor, or -1: `refused` then says why,
/// or is empty if the open itself failed (errno set; ENOENT: no such file).
int open_private_file(const std::filesystem::path& file, int flags, mode_t mode, std::string& refused) noexcept;

}  // namespace tk
