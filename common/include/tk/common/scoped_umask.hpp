#pragma once
/// tk::ScopedUmask: sets the process's umask for one scope and puts the old one back — for files
/// and sockets that must be born with tight permissions (a bind() takes no mode argument).
/// The umask is per process: only for start-up code or a single-threaded process.

#include <sys/stat.h>
#include <sys/types.h>

namespace tk {

class ScopedUmask {
public:
    explicit ScopedUmask(mode_t mask) noexcept : old_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(old_); }
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

private:
    mode_t old_;
};

}  // namespace tk
