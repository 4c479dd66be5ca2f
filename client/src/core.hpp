#pragma once
/// The engine behind `Client`: a bounded queue filled by the host's threads, and one I/O thread
/// that owns the agent connection and the spool file.
///
/// Life of an event: the host's thread serializes it and appends it to `pending_` (never any I/O
/// on the host's thread). The I/O thread moves it to the send/ack ledger (ledger.hpp: the backlog,
/// then in flight until a FlushAck covers it, back to the backlog if the connection breaks — the
/// agent dedups by id) and only moves the bytes. If there is no agent (or it stops taking events),
/// events go to the spool file.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <poll.h>

#include "ledger.hpp"
#include "spool.hpp"
#include "tk/common/paths.hpp"
#include "tk/common/unique_fd.hpp"
#include "telemetry_kit/client.hpp"
#include "wire.hpp"

namespace telemetry_kit::detail {

/// Bounds of the client's memory and timing (documented in docs/client.md).
struct Limits {
    std::size_t max_pending_events = 8192;  // queued by the host, not yet taken by the I/O thread
    std::size_t max_pending_bytes = 8u << 20;
    std::size_t max_held_events = 4096;  // taken by the I/O thread, not yet acknowledged
    std::size_t max_held_bytes = 4u << 20;
    std::size_t spool_high_water = 2048;              // pending this deep while the agent lags: spool the excess,
                                                      // once it has not acked for stall_after or pending is 7/8 full
    std::size_t max_event_bytes = 64u << 10;          // larger events are dropped
    std::size_t flush_every_events = 256;             // ask for an ack this often...
    std::chrono::milliseconds flush_every{100};       // ...or this long after an unacknowledged send
    std::chrono::milliseconds reconnect_grace{1000};  // after losing the agent, hold events this long
    std::chrono::milliseconds stall_after{500};       // an ack this late: the agent is stalled
    std::chrono::milliseconds max_backoff{1000};
    /// The I/O thread is started by the first event recorded this long after the client was made
    /// (or by `thread_start_events` queued events, or by flush()). A short-lived tool thus never
    /// pays for a thread: its destructor hands its few events over itself.
    std::chrono::milliseconds thread_start_after{50};
    std::size_t thread_start_events = 256;
};

class ClientCore : public std::enable_shared_from_this<ClientCore> {
public:
    ClientCore(Config config, Limits limits = {});
    ~ClientCore();
    /// Notes the start time; the I/O thread comes later (Limits::thread_start_after).
    void start();
    /// Hands over what is queued, on the calling thread, within Client::kShutdownDeadline
    /// (leftovers go to the spool), then lets the I/O thread go without waiting for it: joining
    /// would cost the host a scheduling delay of the I/O thread (milliseconds on a busy machine).
    void shutdown() noexcept;
    ClientCore(const ClientCore&) = delete;
    ClientCore& operator=(const ClientCore&) = delete;

    /// Records a finished event (host thread). Never blocks, never throws.
    void submit(EventDraft& draft) noexcept;
    bool flush(std::chrono::milliseconds deadline) noexcept;
    Stats stats() const noexcept;

    Mode mode() const { return mode_; }

    /// fork() handlers (pthread_atfork, core.cpp): the forking thread takes every lock, so the
    /// child inherits none held by a thread it does not have; the child then resets this core
    /// to a fresh one (its own wake pipe, no thread, no connection, no events, zero counters).
    void lock_for_fork() noexcept;
    void unlock_after_fork(bool child) noexcept;
    const Config& config() const { return config_; }

private:
    using clock = std::chrono::steady_clock;

    void print_debug(const EventDraft& draft, std::string_view id) noexcept;
    static void print_trust_problems(const tk::Paths& paths) noexcept;
    void wake_io() noexcept;
    /// Starts the I/O thread if it is not running yet (and the client is not shutting down).
    void ensure_thread() noexcept;
    void settle(std::size_t events) noexcept;
    void reset_in_child() noexcept;

    // I/O thread.
    static void io_main(std::shared_ptr<ClientCore> self) noexcept;
    void io_loop();
    /// One round of I/O work (io_mutex_ held); fills what to poll for until there is more.
    void io_step(pollfd* fds, int& count, int& timeout_ms);
    bool try_connect(clock::time_point now);
    void disconnect(clock::time_point now);
    bool spooling(clock::time_point now) const;
    bool write_output();
    bool read_replies(clock::time_point now);
    void on_ack(std::uint64_t request_id, clock::time_point now);
    /// pending_ is within 1/8 of its bound (mutex_ held).
    bool nearly_full() const;
    void spool(std::deque<std::string>& events) noexcept;
    /// At exit: writes everything and a Flush, waits for the FlushAck until `deadline`, spools
    /// every event not acknowledged by then.
    void drain_on_shutdown(clock::time_point deadline);
    /// Writes output_ until it is all out or `deadline`; false if the connection broke.
    bool write_by(clock::time_point deadline);
    /// Reads replies until every event in flight is acknowledged or `deadline`; false if the
    /// connection broke.
    bool await_ack_by(clock::time_point deadline);
    static int ms_left(clock::time_point deadline);
    int wait_timeout_ms(clock::time_point now) const;

    const Config config_;
    const Limits limits_;
    Mode mode_ = Mode::disabled;
    bool registered_ = false;  // with the fork handlers
    std::filesystem::path socket_path_;
    std::string hello_frame_;
    std::optional<SpoolWriter> spool_;

    // Shared between the host's threads and the I/O thread (under mutex_).
    mutable std::mutex mutex_;
    std::condition_variable settled_changed_;
    std::deque<std::string> pending_;
    std::size_t pending_bytes_ = 0;
    std::uint64_t accepted_ = 0;  // events ever put in pending_
    std::uint64_t settled_ = 0;   // of those: delivered, spooled or dropped
    std::uint64_t flush_requests_ = 0;
    bool stopping_ = false;

    std::atomic<bool> io_sleeping_{false};
    clock::time_point created_at_{};
    std::mutex thread_mutex_;  // guards io_thread_ and shutdown_started_
    std::atomic<bool> thread_started_{false};
    bool shutdown_started_ = false;
    tk::UniqueFd wake_read_;  // the I/O thread sleeps in poll() on this; wake_io() writes a byte
    tk::UniqueFd wake_write_;

    std::atomic<std::uint64_t> tracked_{0}, delivered_{0}, spooled_{0}, dropped_{0}, suppressed_{0}, reconnects_{0};

    // The I/O state below belongs to whoever holds io_mutex_: the I/O thread, or the host's
    // thread in shutdown(). io_stopped_: shutdown() has run; the I/O thread exits.
    std::mutex io_mutex_;
    bool io_stopped_ = false;
    tk::UniqueFd socket_;  // the connection to the agent, if any
    bool ever_connected_ = false;
    std::optional<clock::time_point> lost_at_;  // an established connection broke then
    clock::time_point next_connect_{};
    std::chrono::milliseconds backoff_{0};
    SendLedger ledger_;   // what is sent, acknowledged, and left to spool
    std::string output_;  // bytes for this connection; output_offset_ of them written
    std::uint64_t handled_flush_requests_ = 0;
    bool flush_wanted_ = false;  // a host thread waits in flush()
    std::string replies_;

    bool over_high_water_ = false;   // pending_ was past spool_high_water at the last step
    std::size_t output_offset_ = 0;  // of output_, already written
    std::unique_ptr<std::thread> io_thread_;
};

}  // namespace telemetry_kit::detail
