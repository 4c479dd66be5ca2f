#pragma once
/// Appends events to the spool file (state dir, `spool`) for the agent to import (at start, and
/// within moments while it runs).

#include <chrono>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <string>

#include "tk/common/unique_fd.hpp"

namespace telemetry_kit::detail {

class SpoolWriter {
public:
    /// The file stops growing at this size; events past it are dropped (and counted).
    static constexpr std::size_t kMaxFileBytes = 16u << 20;
    /// Longest wait for the spool's lock before writing without it (see lock_bounded()).
    static constexpr std::chrono::milliseconds kLockWait{200};

    /// `record_prefix`: the tool and signals fields every record shares (wire::spool_record_prefix).
    SpoolWriter(std::filesystem::path state_dir, std::string record_prefix, std::size_t max_file_bytes = kMaxFileBytes);

    struct Result {
        std::size_t spooled = 0;
        std::size_t dropped = 0;
    };

    /// Appends one SpoolRecord per serialized event and empties `events`. Opens, locks (flock),
    /// appends and closes the file each time, checking after the lock that the agent has not
    /// renamed it for import (so a rename never swallows a record); each write() holds whole
    /// records only, so concurrent writers never interleave within a record.
    /// A state dir or spool file another user could control (owned by them, writable by them, a
    /// planted symlink or FIFO) is never written to: the events are dropped and refused() says why.
    Result append(std::deque<std::string>& events) noexcept;

    /// Why the last append() refused the spool, or empty.
    const std::string& refused() const { return refused_; }

    /// Why the spool in `state_dir` would be refused, without creating anything; empty if fine.
    static std::string problem(const std::filesystem::path& state_dir) noexcept;

private:
    /// The spool, opened for appending (made if missing), or no descriptor: refused_ says why if
    /// the directory or file is not the person's own, else the open failed.
    tk::UniqueFd open_file();
    /// open_file(), locked (bounded wait), and still the spool after the lock.
    tk::UniqueFd open_locked();

    std::filesystem::path state_dir_;
    std::filesystem::path file_;
    std::string prefix_;
    std::size_t max_file_bytes_;
    std::string refused_;
};

}  // namespace telemetry_kit::detail
