// The spool watcher on Linux: inotify on the state dir, so an idle agent sleeps until a client
// closes the spool after appending (IN_CLOSE_WRITE) or a spool is moved in (IN_MOVED_TO).
#if defined(__linux__)
#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "tk/agent/spool_import.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::agent {
namespace {

class InotifyWatcher final : public SpoolWatcher {
public:
    InotifyWatcher(boost::asio::io_context& io, int fd, std::function<void()> changed)
        : descriptor_(io, fd), changed_(std::move(changed)) {
        read();
    }

private:
    void read() {
        descriptor_.async_read_some(boost::asio::buffer(buffer_), [this](const boost::system::error_code& error,
                                                                         std::size_t bytes) {
            if (error == boost::asio::error::operation_aborted) return;  // destroyed: touch nothing
            if (error) {
                spdlog::error("spool: the inotify watch failed ({}); spooled events wait for the agent's next start",
                              error.message());
                return;
            }
            if (concerns_spool(bytes)) changed_();
            read();
        });
    }

    /// Any event naming the spool, or a queue overflow (events were lost: look anyway).
    bool concerns_spool(std::size_t bytes) const {
        std::size_t at = 0;
        while (at + sizeof(inotify_event) <= bytes) {
            const auto* event = reinterpret_cast<const inotify_event*>(buffer_.data() + at);
            if (event->mask & IN_Q_OVERFLOW) return true;
            if (event->len > 0 && std::string_view(event->name) == "spool") return true;
            at += sizeof(inotify_event) + event->len;
        }
        return false;
    }

    boost::asio::posix::stream_descriptor descriptor_;
    std::function<void()> changed_;
    alignas(inotify_event) std::array<char, 4096> buffer_{};
};

}  // namespace

std::unique_ptr<SpoolWatcher> SpoolWatcher::make(boost::asio::io_context& io, const std::filesystem::path& state_dir,
                                                 std::function<void()> changed) {
    UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (fd && ::inotify_add_watch(fd.get(), state_dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) >= 0) {
        return std::make_unique<InotifyWatcher>(io, fd.release(), std::move(changed));  // Asio owns it now
    }
    spdlog::warn("spool: cannot watch {} with inotify ({}); checking it every {} s instead", state_dir.string(),
                 std::strerror(errno), kSpoolPollPeriod.count() / 1000);
    return polling(io, kSpoolPollPeriod, std::move(changed));
}

}  // namespace tk::agent
#endif
