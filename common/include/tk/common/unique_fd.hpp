#pragma once
/// tk::UniqueFd: owns a POSIX file descriptor and closes it once, when it goes out of scope — so
/// an early return or an exception cannot leak one, and nothing closes it twice.

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace tk {

class UniqueFd {
public:
    UniqueFd() noexcept = default;
    /// Takes ownership of `fd` (-1: owns nothing).
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    /// Gives up ownership: the caller closes the returned descriptor.
    int release() noexcept { return std::exchange(fd_, -1); }

    /// Closes the owned descriptor (if any) and owns `fd` instead. errno is left as it was, so a
    /// failed call's errno survives the clean-up on its error path.
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) {
            const int saved = errno;
            ::close(fd_);
            errno = saved;
        }
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

}  // namespace tk
