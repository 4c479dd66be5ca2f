// Trust checks for the person's own directories and files (private_files.hpp): ownership, mode,
// no symlinks or FIFOs planted by another user.
#include "tk/common/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tk/common/unique_fd.hpp"

namespace tk {
namespace fs = std::filesystem;

namespace {

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

const char* file_type(mode_t mode) {
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    return "not a regular file";
}

}  // namespace

Result<void> judge_private_dir(const fs::path& dir, bool is_directory, uid_t owner, mode_t mode, uid_t me) {
    if (!is_directory) return Error{dir.string() + " is not a directory"};
    if (owner != me) {
        return Error{"the directory " + dir.string() + " belongs to user " + std::to_string(owner) +
                     ", not you (user " + std::to_string(me) + ")"};
    }
    if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
        return Error{"the directory " + dir.string() + " can be written by other users (mode " + octal_mode(mode) +
                     ")"};
    }
    return {};
}

Result<void> check_private_dir(const fs::path& dir) noexcept {
    try {
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) return {};
        return judge_private_dir(dir, S_ISDIR(st.st_mode), st.st_uid, st.st_mode, ::geteuid());
    } catch (...) {
        return Error{{}, ENOMEM};  // an empty message allocates nothing
    }
}

namespace {

/// Why an open file is not ours to use, or nothing.
std::string refusal(const fs::path& file, int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return "cannot stat " + file.string();
    if (!S_ISREG(st.st_mode)) return file.string() + " is " + file_type(st.st_mode) + ", not telemetry-kit's file";
    if (st.st_uid != ::geteuid()) return file.string() + " belongs to user " + std::to_string(st.st_uid) + ", not you";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return file.string() + " can be written by other users (mode " + octal_mode(st.st_mode) + ")";
    }
    return {};
}

/// The error for an open() that failed with `error`: a planted symlink or FIFO is refused (code
/// 0), anything else keeps its errno.
Error open_failure(const fs::path& file, int error) {
    // ELOOP: the last component is a symlink (O_NOFOLLOW); ENXIO: a FIFO with no reader.
    if (error == ELOOP || error == ENXIO) {
        struct stat st {};
        const bool known = ::lstat(file.c_str(), &st) == 0;
        return Error{file.string() + " is " + (known ? file_type(st.st_mode) : "not a regular file") +
                     ", not telemetry-kit's file"};
    }
    return Error{"cannot open " + file.string() + ": " + std::strerror(error), error};
}

}  // namespace

Result<UniqueFd> open_private_file(const fs::path& file, int flags, mode_t mode) noexcept {
    UniqueFd fd(::open(file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode));
    const int error = errno;
    try {
        if (!fd) return open_failure(file, error);
        if (std::string why = refusal(file, fd.get()); !why.empty()) return Error{std::move(why)};
    } catch (...) {
        return Error{{}, ENOMEM};  // an empty message allocates nothing
    }
    // Writes and reads of a regular file do not block anyway; clear O_NONBLOCK for clarity.
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    return fd;
}

}  // namespace tk
