#pragma once
/// The spool import: events clients wrote to `<state dir>/spool` while they could not reach the
/// agent (absent, restarting, or lagging behind a burst) go through the same intake as live ones.
///
/// At start the agent imports before it serves (import_now()). While it serves, a watcher (inotify
/// on Linux, a periodic check elsewhere: spool_watch_*.cpp) notices new records and an import runs
/// on the agent's I/O thread in slices, so sessions are served between them; records reach the
/// queue within moments of being written. See docs/agent.md ("Spool import") and docs/protocol.md
/// (record format and lock protocol).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry_kit/v1/agent.pb.h"
#include "tk/agent/intake.hpp"
#include "tk/agent/store.hpp"
#include "tk/common/paths.hpp"

namespace tk::agent {

/// How often the portable watcher looks for a spool.
inline constexpr std::chrono::milliseconds kSpoolPollPeriod{2000};

/// Calls `changed` (on the io_context's thread) when the spool may have new records. The
/// platform's best way: spool_watch_linux.cpp (inotify), spool_watch_portable.cpp (a timer).
class SpoolWatcher {
public:
    virtual ~SpoolWatcher() = default;
    /// The best watcher this platform has for `state_dir`; never null (falls back to polling).
    static std::unique_ptr<SpoolWatcher> make(boost::asio::io_context& io, const std::filesystem::path& state_dir,
                                              std::function<void()> changed);
    /// A timer every `period`: the portable fallback.
    static std::unique_ptr<SpoolWatcher> polling(boost::asio::io_context& io, std::chrono::milliseconds period,
                                                 std::function<void()> changed);
};

/// What the imports since start found; `tk status` shows it.
struct SpoolCounters {
    std::uint64_t imports = 0;        ///< spool files imported
    std::uint64_t records = 0;        ///< intact records read (policy may still drop them)
    std::uint64_t damaged_spans = 0;  ///< torn or corrupt stretches skipped
    std::uint64_t damaged_bytes = 0;
    std::uint64_t unreadable_records = 0;  ///< intact checksum, but not a usable SpoolRecord
    std::int64_t last_damage_unix_ms = 0;
};

class SpoolImporter {
public:
    SpoolImporter(boost::asio::io_context& io, const Paths& paths, Intake& intake, EventStore& store);
    ~SpoolImporter();
    SpoolImporter(const SpoolImporter&) = delete;
    SpoolImporter& operator=(const SpoolImporter&) = delete;

    /// Imports everything spooled (a leftover spool.importing first), waiting for the commit.
    /// For start-up, before the agent serves; io_context thread or before it runs.
    void import_now();
    /// Starts watching; each change schedules an import (io_context thread).
    void watch();
    /// Stops watching; an import in progress is abandoned (its file stays for the next start).
    void stop();
    /// An import is running or scheduled: the agent is not idle.
    bool busy() const { return running_ || scheduled_; }
    const SpoolCounters& counters() const { return counters_; }
    void fill_status(telemetry_kit::v1::SpoolStatus& status) const;

private:
    struct Run;
    enum class Take { taken, none, busy, failed };

    void schedule(std::chrono::milliseconds delay);
    void start_run();
    Take take_spool();
    bool load(Run& run);
    /// A new run over the taken file; false (nothing running) if it cannot be read.
    bool begin_run();
    /// Feeds up to `limit` records to the intake; true when all are done.
    bool feed(Run& run, std::size_t limit);
    void step();
    void finish(bool committed);

    boost::asio::io_context& io_;
    const Paths paths_;
    Intake& intake_;
    EventStore& store_;
    boost::asio::steady_timer timer_;
    std::unique_ptr<SpoolWatcher> watcher_;
    std::unique_ptr<Run> run_;
    bool running_ = false;
    bool scheduled_ = false;
    bool again_ = false;  ///< a change arrived during the run: look once more after it
    bool stopped_ = false;
    SpoolCounters counters_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tk::agent
