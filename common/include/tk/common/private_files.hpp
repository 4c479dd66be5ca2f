#pragma once
/// Trust checks for the places telemetry-kit shares with nobody: the agent's socket directory, the
/// state directory and the spool file in it. Another local user must not be able to stand in for
/// them (pre-create the directory, plant a symlink or a FIFO): what a tool records would then go to
/// that user, or the tool would hang at exit. Each check says why in words a person understands.

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "tk/common/result.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk {

/// The decision, from what stat() said: fine if a directory owned by `me` that neither group nor
/// others can write to, else an error that says why not (naming `dir`).
Result<void> judge_private_dir(const std::filesystem::path& dir, bool is_directory, uid_t owner, mode_t mode, uid_t me);

/// stat()s `dir` and judges it. A missing directory is fine: nothing is in it.
Result<void> check_private_dir(const std::filesystem::path& dir) noexcept;

/// Opens `file` with `flags` | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC (so a planted symlink is refused
/// and a planted FIFO can never block) and keeps it only if it is a regular file owned by us that
/// neither group nor others can write to. Else an error whose `code` tells the two failures apart:
/// the open's errno (ENOENT: no such file) if the open itself failed, 0 if the file was refused
/// (the message says why, for `tk status`).
Result<UniqueFd> open_private_file(const std::filesystem::path& file, int flags, mode_t mode) noexcept;

}  // namespace tk
