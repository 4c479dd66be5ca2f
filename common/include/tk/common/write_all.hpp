#pragma once
/// tk::write_all: the whole of a buffer to a file, pipe or terminal, however many write() calls
/// that takes. (For a socket, use unix_socket::send_all: it also keeps SIGPIPE away.)

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string_view>

namespace tk {

/// Writes all of `bytes` to `fd`, again where a signal interrupted a write. False if a write
/// fails or writes nothing (errno set); what was written before stays written.
inline bool write_all(int fd, std::string_view bytes) noexcept {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace tk
