// Trust checks for the person's own directories and files (private_files.hpp): ownership, mode,
// no symlinks or FIFOs planted by another user.
#include "tk/common/private_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

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

std::string judge_private_dir(const fs::path& dir, bool is_directory, uid_t owner, mode_t mode, uid_t me) {
    if (!is_directory) return dir.string() + " is not a directory";
    if (owner != me) {
        return "the directory " + dir.string() + " belongs to user " + std::to_string(owner) + ", not you (user " +
               std::to_string(me) + ")";
    }
    if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
        return "the directory " + dir.string() + " can be written by other users (mode " + octal_mode(mode) + ")";
    }
    return {};
}

std::string untrusted_dir_reason(const fs::path& dir) noexcept {
    try {
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) return {};
        return judge_private_dir(dir, S_ISDIR(st.st_mode), st.st_uid, st.st_mode, ::geteuid());
    } catch (...) {
        return "out of memory";
    }
}

int open_private_file(const fs::path& file, int flags, mode_t mode, std::string& refused) noexcept {
    refused.clear();
    const int fd = ::open(file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
    try {
        if (fd < 0) {
            // ELOOP: the last component is a symlink (O_NOFOLLOW); ENXIO: a FIFO with no reader.
            if (errno == ELOOP || errno == ENXIO) {
                const int saved = errno;
                struct stat st {};
                const bool known = ::lstat(file.c_str(), &st) == 0;
                refused = file.string() + " is " + (known ? file_type(st.st_mode) : "not a regular file") +
                          ", not telemetry-kit's file";
                errno = saved;
            }
            return -1;
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            refused = "cannot stat " + file.string();
        } else if (!S_ISREG(st.st_mode)) {
            refused = file.string() + " is " + file_type(st.st_mode) + ", not telemetry-kit's file";
        } else if (st.st_uid != ::geteuid()) {
            refused = file.string() + " belongs to user " + std::to_string(st.st_uid) + ", not you";
        } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
            refused = file.string() + " can be written by other users (mode " + octal_mode(st.st_mode) + ")";
        }
    } catch (...) {
        refused = "out of memory";
    }
    if (!refused.empty()) {
        ::close(fd);
        return -1;
    }
    // Writes and reads of a regular file do not block anyway; clear O_NONBLOCK for clarity.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

}  // namespace tk
