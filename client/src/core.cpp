// The client's engine (core.hpp): how an event gets from the host's thread to the agent.
//
// How: submit() encodes the event on the host's thread and appends it to the bounded `pending_`
// queue under one short lock — no I/O, never blocking. One I/O thread (io_loop/io_step) owns the
// connection: it moves events to the send/ack ledger (ledger.hpp), which frames them, adds a Flush
// after every flush_every_events or flush_every, and keeps each event in flight until a FlushAck
// covers it; this file only writes those bytes and reads the replies. A broken connection puts
// the in-flight events back in front of the backlog (the agent dedups by id) and reconnects with
// backoff; a stalled agent, a queue near its bound, or the end of the process sends what is left
// to the spool file instead (spool.cpp). shutdown() drains within its deadline; fork handlers
// give the child a fresh core.
#include "core.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <new>
#include <set>

#include "environment.hpp"
#include "tk/common/paths.hpp"
#include "tk/common/json.hpp"
#include "tk/common/unique_fd.hpp"
#include "tk/common/uuid.hpp"
#include "tk/common/write_all.hpp"
#include "unix_socket.hpp"

namespace telemetry_kit::detail {
namespace {

// fork(): a child inherits every ClientCore's memory but none of its threads, possibly with a
// mutex held by the parent's I/O thread, and shares the parent's wake pipe and connection. So
// around fork() every live core is quiesced (its locks taken by the forking thread) and, in the
// child, reset to a fresh, unconnected state that starts its own thread and connection on demand.
std::mutex g_cores_mutex;
std::set<ClientCore*>* g_cores = nullptr;  // never freed: it must outlive static destructors

void before_fork() noexcept {
    g_cores_mutex.lock();
    if (g_cores)
        for (ClientCore* core : *g_cores) core->lock_for_fork();
}

void after_fork_in_parent() noexcept {
    if (g_cores)
        for (ClientCore* core : *g_cores) core->unlock_after_fork(false);
    g_cores_mutex.unlock();
}

void after_fork_in_child() noexcept {
    if (g_cores)
        for (ClientCore* core : *g_cores) core->unlock_after_fork(true);
    g_cores_mutex.unlock();
}

void register_core(ClientCore* core) {
    static const bool registered = (::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child), true);
    (void)registered;
    std::lock_guard<std::mutex> lock(g_cores_mutex);
    if (!g_cores) g_cores = new std::set<ClientCore*>();
    g_cores->insert(core);
}

void unregister_core(ClientCore* core) noexcept {
    std::lock_guard<std::mutex> lock(g_cores_mutex);
    if (g_cores) g_cores->erase(core);
}

void make_pipe(tk::UniqueFd& read_end, tk::UniqueFd& write_end) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    for (const int fd : fds) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
}

const char* kind_name(int kind) {
    switch (static_cast<wire::Kind>(kind)) {
        case wire::Kind::command: return "command";
        case wire::Kind::feature: return "feature";
        default: return "custom";
    }
}

}  // namespace

namespace {

SendLedger::Policy ledger_policy(const Limits& limits) {
    SendLedger::Policy policy;
    policy.flush_every_events = limits.flush_every_events;
    policy.flush_every = limits.flush_every;
    policy.stall_after = limits.stall_after;
    return policy;
}

}  // namespace

ClientCore::ClientCore(Config config, Limits limits)
    : config_(std::move(config)), limits_(limits), ledger_(ledger_policy(limits)) {
    if (config_.tool.empty()) return;  // nothing to attribute events to: disabled
    const wire::Signals signals = read_signals(config_.tool);
    if (debug_requested()) {
        mode_ = Mode::debug;
        print_trust_problems(tk::resolve_paths());
        return;
    }
    // The agent would drop these anyway; not sending them at all is cheaper and more private.
    if (truthy(signals.do_not_track ? signals.do_not_track->c_str() : nullptr) ||
        truthy(signals.tool_disabled ? signals.tool_disabled->c_str() : nullptr)) {
        return;
    }

    const tk::Paths paths = tk::resolve_paths();
    socket_path_ = paths.socket;
    const std::string identity = wire::encode_tool_identity(config_);
    const std::string encoded_signals = wire::encode_signals(signals);
    hello_frame_ = wire::hello_frame(identity, encoded_signals);
    spool_.emplace(paths.state_dir, wire::spool_record_prefix(identity, encoded_signals));

    make_pipe(wake_read_, wake_write_);
    register_core(this);
    registered_ = true;
    mode_ = Mode::sending;
}

void ClientCore::start() { created_at_ = clock::now(); }

void ClientCore::ensure_thread() noexcept {
    if (thread_started_.load()) return;
    std::lock_guard<std::mutex> lock(thread_mutex_);
    if (io_thread_ || shutdown_started_) return;
    try {
        io_thread_ = std::make_unique<std::thread>(&ClientCore::io_main, shared_from_this());
        thread_started_.store(true);
    } catch (...) {
        // No thread: events wait for flush() or the destructor, which hand them over themselves.
    }
}

ClientCore::~ClientCore() {
    // Runs when both the Client and the I/O thread have let go.
    if (registered_) unregister_core(this);
}

void ClientCore::shutdown() noexcept {
    if (mode_ != Mode::sending) return;
    const clock::time_point deadline = clock::now() + Client::kShutdownDeadline;
    {
        std::lock_guard<std::mutex> lock(thread_mutex_);
        shutdown_started_ = true;  // no thread is started from here on
    }
    std::deque<std::string> queued;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;  // later events are dropped
        queued.swap(pending_);
        pending_bytes_ = 0;
    }
    {
        std::lock_guard<std::mutex> io(io_mutex_);
        try {
            for (std::string& event : queued) ledger_.enqueue(std::move(event));
            drain_on_shutdown(deadline);
        } catch (...) {
            // Out of memory while handing over: what is left is lost; the host goes on.
        }
        io_stopped_ = true;
    }
    if (io_thread_) {
        const char byte = 1;
        if (::write(wake_write_.get(), &byte, 1) < 0) {
            // The pipe is full, so the I/O thread is already awake.
        }
        io_thread_->detach();  // it exits when next scheduled; it co-owns this object
    }
}

void ClientCore::lock_for_fork() noexcept {
    // The order every other path takes them in: thread_mutex_ alone; io_mutex_ before mutex_.
    // Each is held only for bounded work (the longest: shutdown's 100 ms hand-over).
    thread_mutex_.lock();
    io_mutex_.lock();
    mutex_.lock();
}

void ClientCore::unlock_after_fork(bool child) noexcept {
    if (child) reset_in_child();
    mutex_.unlock();
    io_mutex_.unlock();
    thread_mutex_.unlock();
}

void ClientCore::reset_in_child() noexcept {
    // Single-threaded here, every lock held by us. The parent's I/O thread does not exist in the
    // child: its std::thread is let go unjoined (destroying it would terminate), and the reference
    // to this core its stack held is never dropped, so this core is never freed in the child —
    // a few KiB. Waiters on the condition variable were the parent's threads: a fresh one replaces
    // it without running the old one's destructor (which would wait for them).
    (void)io_thread_.release();
    thread_started_.store(false);
    new (&settled_changed_) std::condition_variable();
    // The parent's queued, in-flight and unacknowledged events are the parent's to deliver.
    pending_.clear();
    pending_bytes_ = 0;
    accepted_ = settled_ = 0;
    flush_requests_ = handled_flush_requests_ = 0;
    flush_wanted_ = false;
    for (auto* counter : {&tracked_, &delivered_, &spooled_, &dropped_, &suppressed_, &reconnects_}) counter->store(0);
    // The connection and the wake pipe are shared with the parent: close our copies (the
    // parent's stay open), make our own pipe, and connect afresh on demand.
    socket_.reset();
    wake_read_.reset();
    wake_write_.reset();
    try {
        make_pipe(wake_read_, wake_write_);
    } catch (...) {
        mode_ = Mode::disabled;  // no pipe, no I/O thread: the child's events are counted as suppressed
    }
    io_sleeping_.store(false);
    ever_connected_ = false;
    lost_at_.reset();
    next_connect_ = {};
    backoff_ = std::chrono::milliseconds(0);
    ledger_.clear();
    output_.clear();
    output_offset_ = 0;
    replies_.clear();
    over_high_water_ = false;
}

void ClientCore::submit(EventDraft& draft) noexcept {
    tracked_.fetch_add(1, std::memory_order_relaxed);
    if (mode_ == Mode::disabled) {
        suppressed_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    try {
        const tk::Uuid uuid = tk::uuid_v7();
        const std::string_view id(reinterpret_cast<const char*>(uuid.data()), uuid.size());
        if (mode_ == Mode::debug) {
            print_debug(draft, id);
            suppressed_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        wire::EventFields fields;
        fields.id = id;
        fields.tool = config_.tool;
        fields.tool_version = config_.version;
        fields.kind = static_cast<wire::Kind>(draft.kind);
        fields.name = draft.name;
        fields.timestamp_unix_ms = draft.timestamp_unix_ms;
        fields.attributes = draft.attributes.data();
        fields.attribute_count = draft.attributes.size();
        fields.success = draft.success;
        fields.duration_us = draft.duration_us;
        fields.exit_code = draft.exit_code;
        bool start_thread = false;
        std::string event;
        event.reserve(48 + config_.tool.size() + config_.version.size() + draft.name.size() +
                      24 * draft.attributes.size());
        wire::encode_event(event, fields);
        if (event.size() > limits_.max_event_bytes) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stopping_ || pending_.size() >= limits_.max_pending_events ||
                pending_bytes_ + event.size() > limits_.max_pending_bytes) {
                dropped_.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            pending_bytes_ += event.size();
            pending_.push_back(std::move(event));
            ++accepted_;
            if (!thread_started_.load(std::memory_order_relaxed) &&
                (pending_.size() >= limits_.thread_start_events ||
                 clock::now() - created_at_ >= limits_.thread_start_after)) {
                start_thread = true;
            }
        }
        if (start_thread) ensure_thread();
        wake_io();
    } catch (...) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
    }
}

void ClientCore::wake_io() noexcept {
    // Only a sleeping I/O thread needs the (system call) wake-up; a busy one finds the event.
    if (io_sleeping_.load() && io_sleeping_.exchange(false)) {
        const char byte = 1;
        if (::write(wake_write_.get(), &byte, 1) < 0) {
            // Full pipe: a wake-up is already pending.
        }
    }
}

bool ClientCore::flush(std::chrono::milliseconds deadline) noexcept {
    if (mode_ != Mode::sending) return true;
    try {
        std::unique_lock<std::mutex> lock(mutex_);
        const std::uint64_t target = accepted_;
        if (settled_ >= target) return true;
        ++flush_requests_;
        lock.unlock();
        ensure_thread();
        const char byte = 1;
        if (::write(wake_write_.get(), &byte, 1) < 0) {
            // Full pipe: a wake-up is already pending.
        }
        lock.lock();
        return settled_changed_.wait_for(lock, deadline, [&] { return settled_ >= target; });
    } catch (...) {
        return false;
    }
}

Stats ClientCore::stats() const noexcept {
    Stats stats;
    stats.tracked = tracked_.load();
    stats.delivered = delivered_.load();
    stats.spooled = spooled_.load();
    stats.dropped = dropped_.load();
    stats.suppressed = suppressed_.load();
    stats.reconnects = reconnects_.load();
    return stats;
}

void ClientCore::settle(std::size_t events) noexcept {
    if (events == 0) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        settled_ += events;
    }
    settled_changed_.notify_all();
}

void ClientCore::print_trust_problems(const tk::Paths& paths) noexcept {
    // Debug mode sends nothing, but says whether a real run could: an impostor's socket or a
    // planted spool would otherwise go unnoticed until someone reads `tk status`.
    try {
        const auto connection = connect_agent(paths.socket);
        std::string lines;
        if (!connection && connection.failure().code == 0) {
            lines += "telemetry-kit: " + connection.error() + "; events would be spooled\n";
        }
        if (const std::string spool = SpoolWriter::problem(paths.state_dir); !spool.empty()) {
            lines += "telemetry-kit: " + spool + "; events would be dropped\n";
        }
        (void)tk::write_all(STDERR_FILENO, lines);  // stderr gone: nothing to tell
    } catch (...) {
    }
}

void ClientCore::print_debug(const EventDraft& draft, std::string_view id) noexcept {
    try {
        std::string line = "{\"id\":";
        tk::json::append_string(line, tk::uuid_bytes_to_string(id));
        line += ",\"tool\":";
        tk::json::append_string(line, config_.tool);
        line += ",\"tool_version\":";
        tk::json::append_string(line, config_.version);
        line += ",\"kind\":\"";
        line += kind_name(draft.kind);
        line += "\",\"name\":";
        tk::json::append_string(line, draft.name);
        line += ",\"timestamp_unix_ms\":" + std::to_string(draft.timestamp_unix_ms);
        line += ",\"attributes\":{";
        bool first = true;
        for (const Attribute& attribute : draft.attributes) {
            if (!first) line += ',';
            first = false;
            tk::json::append_string(line, attribute.key);
            line += ':';
            const auto& value = attribute.value.get();
            if (const auto* text = std::get_if<std::string>(&value)) {
                tk::json::append_string(line, *text);
            } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
                line += std::to_string(*number);
            } else if (const auto* real = std::get_if<double>(&value)) {
                char buffer[32];
                std::snprintf(buffer, sizeof buffer, "%.17g", *real);
                line += std::isfinite(*real) ? buffer : "null";
            } else if (const auto* flag = std::get_if<bool>(&value)) {
                line += *flag ? "true" : "false";
            }
        }
        line += '}';
        if (draft.success) line += *draft.success ? ",\"success\":true" : ",\"success\":false";
        if (draft.duration_us) line += ",\"duration_us\":" + std::to_string(*draft.duration_us);
        if (draft.exit_code) line += ",\"exit_code\":" + std::to_string(*draft.exit_code);
        line += "}\n";
        (void)tk::write_all(STDERR_FILENO, line);
    } catch (...) {
    }
}

// ---- the I/O thread ----

void ClientCore::io_main(std::shared_ptr<ClientCore> self) noexcept {
    try {
        self->io_loop();
    } catch (...) {
        // Out of memory in the I/O thread: stop sending. The host's calls still return at once;
        // the queue fills to its bound and further events are dropped and counted.
    }
}

bool ClientCore::spooling(clock::time_point now) const {
    return !socket_ && !(lost_at_ && now - *lost_at_ < limits_.reconnect_grace);
}

void ClientCore::io_loop() {
    for (;;) {
        pollfd fds[2] = {{wake_read_.get(), POLLIN, 0}, {-1, 0, 0}};
        int count = 0;
        int timeout_ms = -1;
        {
            std::lock_guard<std::mutex> io(io_mutex_);
            if (io_stopped_) return;
            io_step(fds, count, timeout_ms);
        }
        if (count > 0) ::poll(fds, static_cast<nfds_t>(count), timeout_ms);
        io_sleeping_.store(false);
        char drain[64];
        while (::read(wake_read_.get(), drain, sizeof drain) > 0) {
        }
    }
}

void ClientCore::io_step(pollfd* fds, int& count, int& timeout_ms) {
    const clock::time_point now = clock::now();
    bool flush_now = false;
    std::deque<std::string> overflow;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
            // shutdown() is taking over; wait for its wake-up.
            io_sleeping_.store(true);
            count = 1;
            return;
        }
        if (flush_requests_ != handled_flush_requests_) {
            handled_flush_requests_ = flush_requests_;
            flush_now = true;
            flush_wanted_ = true;
        } else if (settled_ >= accepted_) {
            flush_wanted_ = false;
        }
        const bool take_all = spooling(now) || (flush_now && !socket_);
        while (!pending_.empty() && (take_all || (ledger_.held_events() < limits_.max_held_events &&
                                                  ledger_.held_bytes() < limits_.max_held_bytes))) {
            pending_bytes_ -= pending_.front().size();
            ledger_.enqueue(std::move(pending_.front()));
            pending_.pop_front();
        }
        // Past the high-water mark the agent lags behind, but a live agent is waited for: the
        // spool is a detour (imported within moments, yet later than a live hand-over). So spill
        // only after that bounded wait — the agent has acknowledged nothing for stall_after — or
        // when the queue is about to overflow, where waiting longer would drop events.
        if (ledger_.stalled(now) || nearly_full()) {
            while (pending_.size() > limits_.spool_high_water) {
                pending_bytes_ -= pending_.front().size();
                overflow.push_back(std::move(pending_.front()));
                pending_.pop_front();
            }
        }
        over_high_water_ = pending_.size() > limits_.spool_high_water;
    }
    spool(overflow);

    if (!socket_ && !ledger_.backlog_empty() && (flush_now || now >= next_connect_)) try_connect(now);
    if (socket_) {
        // The held bound applies to backlog + in flight, so all of the backlog may go out.
        ledger_.send(output_, now, flush_now || flush_wanted_);
        if (!write_output() || !read_replies(now)) disconnect(now);
    }
    if (!socket_ && !ledger_.backlog_empty() && (flush_now || spooling(now))) {
        std::deque<std::string> backlog = ledger_.take_backlog();
        spool(backlog);
    }

    // Sleep until there is work: an event, a flush, a reply, room to write, or a timer.
    io_sleeping_.store(true);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const bool room = ledger_.held_events() < limits_.max_held_events || spooling(now);
        if ((!pending_.empty() && room) || stopping_ || flush_requests_ != handled_flush_requests_) return;
    }
    count = 1;
    if (socket_) {
        fds[1].fd = socket_.get();
        fds[1].events = static_cast<short>(POLLIN | (output_offset_ < output_.size() ? POLLOUT : 0));
        count = 2;
    }
    timeout_ms = wait_timeout_ms(now);
}

int ClientCore::wait_timeout_ms(clock::time_point now) const {
    std::optional<clock::time_point> wake;
    auto consider = [&](clock::time_point at) {
        if (!wake || at < *wake) wake = at;
    };
    if (const auto due = ledger_.flush_due_at(); socket_ && due) consider(*due);
    // The end of the bounded wait for a lagging agent: spill then, even if no event wakes us.
    if (const auto stall = ledger_.stall_at(); socket_ && over_high_water_ && stall) consider(*stall);
    if (!socket_ && !ledger_.backlog_empty()) {
        consider(next_connect_);
        if (lost_at_) consider(*lost_at_ + limits_.reconnect_grace);
    }
    if (!wake) return -1;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now).count() + 1;
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
}

bool ClientCore::try_connect(clock::time_point now) {
    auto connection = connect_agent(socket_path_);
    if (!connection) {
        backoff_ = std::min(std::max(backoff_ * 2, std::chrono::milliseconds(10)), limits_.max_backoff);
        next_connect_ = now + backoff_;
        return false;
    }
    socket_ = std::move(*connection);
    if (ever_connected_) reconnects_.fetch_add(1, std::memory_order_relaxed);
    ever_connected_ = true;
    lost_at_.reset();
    backoff_ = std::chrono::milliseconds(0);
    output_ = hello_frame_;
    output_offset_ = 0;
    ledger_.connected();
    replies_.clear();
    return true;
}

void ClientCore::disconnect(clock::time_point now) {
    socket_.reset();
    // Unacknowledged events go back to the front of the backlog, in order, to be re-sent.
    const bool give_up = ledger_.connection_lost();
    output_.clear();
    output_offset_ = 0;
    lost_at_ = now;
    next_connect_ = now;
    // An agent that keeps closing the connection without acknowledging anything (say, it
    // rejects one of our events) gets the spool instead of an endless re-send loop.
    if (give_up) {
        lost_at_ = now - limits_.reconnect_grace;
        backoff_ = limits_.max_backoff;
        next_connect_ = now + backoff_;
    }
}

bool ClientCore::write_output() {
    while (output_offset_ < output_.size()) {
        const ssize_t n = send_some(socket_.get(), output_.data() + output_offset_, output_.size() - output_offset_);
        if (n < 0) return false;
        if (n == 0) break;  // socket buffer full: poll for POLLOUT
        output_offset_ += static_cast<std::size_t>(n);
    }
    if (output_offset_ == output_.size()) {
        output_.clear();
        output_offset_ = 0;
    }
    return true;
}

bool ClientCore::read_replies(clock::time_point now) {
    bool open = true;
    char buffer[4096];
    for (;;) {
        const ssize_t n = receive_some(socket_.get(), buffer, sizeof buffer);
        if (n < 0) open = false;
        if (n <= 0) break;
        replies_.append(buffer, static_cast<std::size_t>(n));
    }
    std::size_t pos = 0;
    while (replies_.size() - pos >= wire::kHeaderBytes) {
        const std::uint32_t length = wire::read_header(replies_.data() + pos);
        if (length > (1u << 20)) return false;
        if (replies_.size() - pos - wire::kHeaderBytes < length) break;
        wire::Reply reply;
        if (!wire::decode_reply(std::string_view(replies_).substr(pos + wire::kHeaderBytes, length), reply))
            return false;
        pos += wire::kHeaderBytes + length;
        if (reply.type == wire::Reply::Type::flush_ack) on_ack(reply.request_id, now);
        if (reply.type == wire::Reply::Type::error) return false;
    }
    replies_.erase(0, pos);
    return open;
}

void ClientCore::on_ack(std::uint64_t request_id, clock::time_point now) {
    const std::size_t acked = ledger_.acknowledge(request_id, now);
    if (acked > 0) {
        delivered_.fetch_add(acked, std::memory_order_relaxed);
        settle(acked);
    }
}

bool ClientCore::nearly_full() const {
    return pending_.size() >= limits_.max_pending_events / 8 * 7 || pending_bytes_ >= limits_.max_pending_bytes / 8 * 7;
}

void ClientCore::spool(std::deque<std::string>& events) noexcept {
    if (events.empty()) return;
    const SpoolWriter::Result result = spool_->append(events);
    spooled_.fetch_add(result.spooled, std::memory_order_relaxed);
    dropped_.fetch_add(result.dropped, std::memory_order_relaxed);
    settle(result.spooled + result.dropped);
}

void ClientCore::drain_on_shutdown(clock::time_point deadline) {
    const clock::time_point now = clock::now();
    if (!socket_ && !ledger_.backlog_empty()) try_connect(now);
    if (socket_ && !ledger_.stalled(now)) {
        // A Flush after the last event: its FlushAck says the agent has stored all of them.
        ledger_.send(output_, now, /*flush_now=*/true);
        if (!write_by(deadline) || !await_ack_by(deadline)) disconnect(clock::now());
    }
    // Whatever the agent has not acknowledged goes to the spool (disconnect() put what was in
    // flight back in the backlog). An event written whole may still be read by the agent, or may
    // die with it; spooling it too is harmless: the agent dedups by id.
    std::deque<std::string> leftovers = ledger_.take_unacknowledged();
    spool(leftovers);
    socket_.reset();
}

int ClientCore::ms_left(clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return static_cast<int>(std::clamp<std::int64_t>(left, 0, 60'000));
}

bool ClientCore::write_by(clock::time_point deadline) {
    for (;;) {
        if (!write_output()) return false;
        if (output_offset_ == output_.size()) return true;
        const int left = ms_left(deadline);
        if (left <= 0) return true;
        pollfd p{socket_.get(), POLLOUT, 0};
        const int ready = ::poll(&p, 1, left);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return true;
    }
}

bool ClientCore::await_ack_by(clock::time_point deadline) {
    // A live agent answers in well under a millisecond; one that accepts and never reads makes
    // this wait the whole deadline, after which the caller spools what is in flight.
    while (ledger_.in_flight() > 0) {
        const int left = ms_left(deadline);
        if (left <= 0) return true;
        pollfd p{socket_.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, left);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return true;
        if (!read_replies(clock::now())) return false;
    }
    return true;
}

}  // namespace telemetry_kit::detail
