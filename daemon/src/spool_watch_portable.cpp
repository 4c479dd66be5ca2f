// The portable spool watcher: a timer. Used where there is no better notification (everywhere
// but Linux for now; macOS could use kqueue's EVFILT_VNODE) and when inotify is unavailable.
#include <boost/asio/steady_timer.hpp>

#include "tk/agent/spool_import.hpp"

namespace tk::agent {
namespace {

class PollingWatcher final : public SpoolWatcher {
public:
    PollingWatcher(boost::asio::io_context& io, std::chrono::milliseconds period, std::function<void()> changed)
        : timer_(io), period_(period), changed_(std::move(changed)) {
        arm();
    }

private:
    void arm() {
        timer_.expires_after(period_);
        timer_.async_wait([this](const boost::system::error_code& error) {
            if (error) return;  // cancelled: destroyed, touch nothing
            changed_();
            arm();
        });
    }

    boost::asio::steady_timer timer_;
    std::chrono::milliseconds period_;
    std::function<void()> changed_;
};

}  // namespace

std::unique_ptr<SpoolWatcher> SpoolWatcher::polling(boost::asio::io_context& io, std::chrono::milliseconds period,
                                                    std::function<void()> changed) {
    return std::make_unique<PollingWatcher>(io, period, std::move(changed));
}

#if !defined(__linux__)
std::unique_ptr<SpoolWatcher> SpoolWatcher::make(boost::asio::io_context& io, const std::filesystem::path&,
                                                 std::function<void()> changed) {
    return polling(io, kSpoolPollPeriod, std::move(changed));
}
#endif

}  // namespace tk::agent
