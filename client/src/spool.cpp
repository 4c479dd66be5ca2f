// The client's spool writer (spool.hpp): appends framed records to <state dir>/spool under the
// lock protocol of docs/protocol.md, only into a file and directory that are the person's own.
#include "spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "tk/common/paths.hpp"
#include "tk/common/private_files.hpp"
#include "tk/common/unique_fd.hpp"
#include "tk/common/write_all.hpp"
#include "wire.hpp"

namespace telemetry_kit::detail {
namespace {

// Largest single write(): many records at once, but never a partial one.
constexpr std::size_t kMaxWriteBytes = 256u << 10;

/// Waits (bounded) for the spool's lock. Its holders are other writers, each for one write(), and
/// the agent, for one rename(). A holder stopped in between (SIGSTOP, a debugger) must not hang
/// the host tool: after the wait we write without the lock, which is still safe from the rename,
/// because the stopped holder keeps the agent from taking the lock too.
void lock_bounded(int fd) noexcept {
    const auto deadline = std::chrono::steady_clock::now() + SpoolWriter::kLockWait;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || std::chrono::steady_clock::now() >= deadline) return;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
}

/// The descriptor still names the file at `path`: the agent did not rename it away meanwhile.
bool still_at(int fd, const std::filesystem::path& path) noexcept {
    struct stat opened {};
    struct stat named {};
    return ::fstat(fd, &opened) == 0 && ::lstat(path.c_str(), &named) == 0 && opened.st_dev == named.st_dev &&
           opened.st_ino == named.st_ino;
}

}  // namespace

SpoolWriter::SpoolWriter(std::filesystem::path state_dir, std::string record_prefix, std::size_t max_file_bytes)
    : state_dir_(std::move(state_dir)),
      file_(state_dir_ / "spool"),
      prefix_(std::move(record_prefix)),
      max_file_bytes_(max_file_bytes) {}

tk::UniqueFd SpoolWriter::open_locked() {
    // The lock protocol (docs/protocol.md): lock, then check that the file we opened is still the
    // spool. If the agent renamed it for import between our open() and our lock, a record
    // written now would land in a file the agent may already have read: open the new spool.
    for (int attempt = 0; attempt < 8; ++attempt) {
        tk::UniqueFd fd = open_file();
        if (!fd) return fd;
        lock_bounded(fd.get());
        if (still_at(fd.get(), file_)) return fd;
    }
    refused_ = "the spool " + file_.string() + " was replaced while opening it, again and again";
    return {};
}

namespace {

/// Why a failed open of the spool is a refusal (an impostor's file), or empty: an ordinary failure.
std::string refusal_of(const tk::Error& failure) { return failure.code == 0 ? failure.message : std::string(); }

}  // namespace

tk::UniqueFd SpoolWriter::open_file() {
    refused_.clear();
    if (const auto trusted = tk::check_private_dir(state_dir_); !trusted) {
        refused_ = trusted.error();
        return {};
    }
    const int flags = O_WRONLY | O_APPEND | O_CREAT;
    auto opened = tk::open_private_file(file_, flags, 0600);
    if (!opened && opened.failure().code == ENOENT) {
        if (!tk::ensure_private_dir(state_dir_)) return {};
        opened = tk::open_private_file(file_, flags, 0600);
    }
    if (!opened) {
        refused_ = refusal_of(opened.failure());
        return {};
    }
    return std::move(opened).value();
}

std::string SpoolWriter::problem(const std::filesystem::path& state_dir) noexcept {
    try {
        if (const auto trusted = tk::check_private_dir(state_dir); !trusted) return trusted.error();
        const auto opened = tk::open_private_file(state_dir / "spool", O_RDONLY, 0);
        return opened ? std::string() : refusal_of(opened.failure());
    } catch (...) {
        return {};
    }
}

SpoolWriter::Result SpoolWriter::append(std::deque<std::string>& events) noexcept {
    Result result;
    if (events.empty()) return result;
    const std::size_t total = events.size();
    try {
        const tk::UniqueFd fd = open_locked();  // closing it drops the lock, also on an exception
        if (fd) {
            struct stat st {};
            std::size_t size = ::fstat(fd.get(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : max_file_bytes_;
            std::string chunk;
            std::size_t chunk_records = 0;
            auto write_chunk = [&] {
                if (chunk.empty()) return;
                if (size + chunk.size() <= max_file_bytes_ && tk::write_all(fd.get(), chunk)) {
                    result.spooled += chunk_records;
                    size += chunk.size();
                } else {
                    result.dropped += chunk_records;
                }
                chunk.clear();
                chunk_records = 0;
            };
            while (!events.empty()) {
                wire::append_spool_record(chunk, prefix_, events.front());
                ++chunk_records;
                events.pop_front();
                if (chunk.size() >= kMaxWriteBytes) write_chunk();
            }
            write_chunk();
        }
    } catch (...) {
    }
    events.clear();
    result.dropped = total - result.spooled;
    return result;
}

}  // namespace telemetry_kit::detail
