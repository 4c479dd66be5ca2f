// The forwarder: one lane per destination (a collector and an ingest key, i.e. one tool at one
// collector), each a small state machine run on the forwarding thread.
//
//                 pass() finds work / a notify()
//   ┌──────┐ ──────────────────────────────────────▶ ┌─────────┐ ◀─┐ a wave answered and more
//   │ idle │                                         │ sending │ ──┘ queued: the next wave
//   └──────┘ ◀──────────────────────────────────────  └─────────┘
//     ▲  ▲        queue empty (round over)             │     │
//     │  │                                             │     │ a BatchAck with quota_exceeded
//     │  │   retry timer fires: wake    ┌─────────────┐│     ▼
//     │  └───────────────────────────── │ backing_off │◀┘  ┌────────┐ saved in the store (pauses):
//     │     (then idle or sending)      └─────────────┘    │ paused │ a restart comes back paused
//     │      a failure: network, 408/429/5xx, local queue   └────────┘
//     └──── the reset time reached (pause timer, at most kPauseRecheck, or any pass) ──┘
//
// sending: a round runs — erasures first, then waves of up to max_in_flight batches, each wave
//   deleted from the queue once the next is on the wire. The verdict on each answer is
//   batch_verdict() (forwarder_verdict.hpp), a pure function.
// backing_off: exponential backoff with jitter (or the server's Retry-After) on the lane's timer.
// paused: the collector said the tool is past its monthly quota until a reset time. Nothing of
//   the tool is sent there until then; its events stay queued (within local retention); other
//   lanes are untouched. A paused lane still sends `tk forget` erasures (a person's request is
//   not the tool's traffic), then goes back to paused. Paused lanes are not work for the idle exit.
// A failure during a paused lane's erasures backs off like any other, then returns to paused.

#include "tk/agent/forwarder.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "telemetry_kit/v1/event.pb.h"
#include "tk/agent/backoff.hpp"
#include "tk/agent/forwarder_verdict.hpp"
#include "tk/agent/forwarder_wire.hpp"
#include "tk/agent/http_client.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/hex.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::agent {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

std::int64_t unix_ms_now() { return tk::now_unix_ms(); }

/// Worth retrying: the request timed out, we were rate-limited, or the server failed.
bool retryable_status(unsigned status) { return status == 408 || status == 429 || status >= 500; }

/// A paused lane looks at the clock at least this often: the wall clock may jump (suspend, NTP),
/// and a steady timer set for weeks would not notice.
constexpr milliseconds kPauseRecheck{std::chrono::minutes(10)};

/// The tool of a batch (all its events are one tool's: one ingest key), from its first event.
std::string tool_of(const std::vector<OutgoingEvent>& batch) {
    telemetry_kit::v1::Event first;
    return !batch.empty() && first.ParseFromString(batch.front().event) ? first.tool() : "?";
}

std::string utc_minute_text(std::int64_t unix_ms) {
    return fmt::format("{:%Y-%m-%d %H:%M} UTC", fmt::gmtime(static_cast<std::time_t>(unix_ms / 1000)));
}

/// The DESIGN's "local log of what was sent": one line per delivered batch, size-bounded by
/// moving a full log to `<path>.1`.
class SentLog {
public:
    SentLog(std::filesystem::path path, std::size_t max_bytes) : path_(std::move(path)), max_bytes_(max_bytes) {}
    ~SentLog() { close(); }
    SentLog(const SentLog&) = delete;
    SentLog& operator=(const SentLog&) = delete;

    void record(const std::string& line) {
        if (path_.empty()) return;
        if (file_ && size_ + line.size() > max_bytes_ && size_ > 0) {
            close();
            std::error_code ec;
            std::filesystem::rename(path_, std::filesystem::path(path_.string() + ".1"), ec);
        }
        if (!file_ && !open()) return;
        if (std::fputs(line.c_str(), file_) >= 0 && std::fflush(file_) == 0) size_ += line.size();
    }

private:
    bool open() {
        UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (fd) file_ = ::fdopen(fd.get(), "a");
        if (!file_) {
            if (!warned_) spdlog::warn("forwarder: cannot write the sent log {}", path_.string());
            warned_ = true;
            return false;
        }
        struct stat info {};
        size_ = ::fstat(fd.get(), &info) == 0 ? static_cast<std::size_t>(info.st_size) : 0;
        (void)fd.release();  // file_ owns it now: close() closes both
        return true;
    }
    void close() {
        if (file_) std::fclose(file_);
        file_ = nullptr;
    }

    std::filesystem::path path_;
    std::size_t max_bytes_;
    std::FILE* file_ = nullptr;
    std::size_t size_ = 0;
    bool warned_ = false;
};

std::string sent_log_line(const std::string& endpoint, const std::vector<OutgoingEvent>& batch,
                          const wire::AckOutcome& outcome) {
    const std::string tool = tool_of(batch);
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    return fmt::format(
        "{:%Y-%m-%dT%H:%M:%S}.{:03}Z {} tool={} events={} accepted={} duplicate={} rejected={} "
        "unanswered={} ids={}..{}\n",
        fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms, endpoint, tool, batch.size(), outcome.accepted,
        outcome.duplicate, outcome.rejected_count, outcome.unanswered, to_hex(batch.front().id),
        to_hex(batch.back().id));
}

}  // namespace

struct Forwarder::Impl {
    /// Where a lane is in the diagram at the top of this file.
    enum class LaneState { idle, sending, backing_off, paused };

    /// One destination's state machine (see the top of this file).
    struct Lane {
        Lane(asio::io_context& io, Destination d, std::size_t batch_events)
            : destination(std::move(d)),
              url(http::parse_url(destination.endpoint)),
              retry_timer(io),
              batch_events(batch_events) {}
        Destination destination;
        http::UrlResult url;
        std::vector<std::shared_ptr<http::Client>> clients;  // one kept-alive connection per batch in flight
        asio::steady_timer retry_timer;  // backing_off: the retry; paused: the next look at the clock
        LaneState state = LaneState::idle;
        std::optional<Pause> pause;  // set from quota_exceeded until the reset time (also while sending erasures)
        unsigned failures = 0;       // consecutive failed attempts
        std::size_t batch_events;    // events per batch now (halved after a 413)
        std::vector<ErasureRequest> erasures;
        // The wave of batches in flight.
        std::size_t in_flight = 0;
        std::optional<std::string> wave_error;
        std::optional<milliseconds> wave_retry_after;
        std::optional<std::int64_t> wave_paused_until;  // a batch of the wave got quota_exceeded
        std::string wave_tool;
        std::vector<std::string> wave_delivered;  // deleted from the queue in one go after the wave
        std::vector<std::string> wave_sent_log;   // then logged
    };

    Impl(Outbox& outbox, ForwarderOptions options)
        : outbox(outbox),
          options(std::move(options)),
          work(asio::make_work_guard(io)),
          tls(asio::ssl::context::tls_client),
          coalesce_timer(io),
          pass_retry_timer(io),
          rng(std::random_device{}()),
          sent_log(this->options.sent_log, this->options.sent_log_max_bytes) {
        if (this->options.max_batch_events == 0) this->options.max_batch_events = 1;
        if (this->options.max_in_flight == 0) this->options.max_in_flight = 1;
        SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
        boost::system::error_code ec;
        tls.set_default_verify_paths(ec);
        if (ec) spdlog::warn("forwarder: cannot load the system's trusted certificates: {}", ec.message());
        if (!this->options.ca_file.empty()) {
            tls.load_verify_file(this->options.ca_file, ec);
            if (ec) spdlog::error("forwarder: cannot load ca_file {}: {}", this->options.ca_file, ec.message());
        }
    }

    // ---- forwarding thread only ----

    Lane& lane_for(const Destination& destination) {
        auto& lane = lanes[destination];
        if (!lane) {
            lane = std::make_unique<Lane>(io, destination, options.max_batch_events);
            std::lock_guard lock(status_mutex);
            statuses[destination].set_endpoint(destination.endpoint);
            if (!lane->url) spdlog::error("forwarder: {}", lane->url.error());
        }
        return *lane;
    }

    template <class Update>
    void update_status(const Lane& lane, Update&& update) {
        std::lock_guard lock(status_mutex);
        update(statuses[lane.destination]);
    }

    /// Looks at everything the store has to send and wakes each idle destination. If the store
    /// cannot be read, nothing is known to be idle: the pass is retried with backoff, and the
    /// error stays in status (and keeps the agent from its idle exit) until a pass succeeds.
    void pass() {
        if (stopping) return;
        if (!pauses_restored) {
            auto saved = outbox.pauses();
            if (!saved) return pass_failed(saved.error());
            restore_pauses(*saved);
        }
        auto destinations = outbox.pending_destinations();
        if (!destinations) return pass_failed(destinations.error());
        auto erasures = outbox.pending_erasures();
        if (!erasures) return pass_failed(erasures.error());
        pass_succeeded();
        std::map<Destination, std::vector<ErasureRequest>> work_by_destination;
        for (auto& destination : *destinations) work_by_destination[destination];
        for (auto& erasure : *erasures) work_by_destination[erasure.destination].push_back(erasure);
        for (auto& [destination, pending] : work_by_destination) wake(lane_for(destination), std::move(pending));
    }

    void pass_failed(const std::string& error) {
        set_local_error(error);
        if (pass_waiting) return;  // a retry is already due; a notify() does not shorten the backoff
        ++pass_failures;
        const milliseconds delay =
            backoff::next_delay(pass_failures, std::nullopt, options.initial_backoff, options.max_backoff, rng);
        spdlog::warn("forwarder: {}; looking again in {} ms", error, delay.count());
        pass_waiting = true;
        pass_retry_timer.expires_after(delay);
        pass_retry_timer.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping) return;
            pass_waiting = false;
            pass();
        });
    }

    void pass_succeeded() {
        pass_failures = 0;
        pass_retry_timer.cancel();
        pass_waiting = false;
        set_local_error("");
    }

    void set_local_error(const std::string& error) {
        std::lock_guard lock(status_mutex);
        local_error = error;
    }

    void wake(Lane& lane, std::optional<std::vector<ErasureRequest>> erasures = std::nullopt) {
        if (stopping || lane.state == LaneState::sending || lane.state == LaneState::backing_off) return;
        if (lane.pause) end_pause_if_due(lane);
        lane.state = LaneState::sending;
        if (!erasures) {
            auto pending = outbox.pending_erasures();
            if (!pending) return retry_later(lane, pending.error(), std::nullopt);
            erasures.emplace();
            for (auto& erasure : *pending) {
                if (erasure.destination == lane.destination) erasures->push_back(std::move(erasure));
            }
        }
        lane.erasures = std::move(*erasures);
        step(lane);
    }

    // ---- pauses (quota_exceeded) ----

    /// At the first pass: the pauses saved before a restart, still running, pause their lanes again.
    void restore_pauses(const std::vector<Pause>& saved) {
        pauses_restored = true;
        const std::int64_t now = tk::wall_clock_ms();
        for (const auto& pause : saved) {
            if (pause.until_unix_ms <= now) {
                (void)outbox.clear_pause(pause.destination);  // over; if this fails it is over next time too
                continue;
            }
            Lane& lane = lane_for(pause.destination);
            lane.pause = pause;
            publish_pause(lane);
            enter_paused(lane);
        }
    }

    /// The collector said quota_exceeded: keep the pause (in the store too), then wait.
    void start_pause(Lane& lane, std::int64_t until_unix_ms, const std::string& tool) {
        lane.pause = Pause{lane.destination, tool, "monthly quota", until_unix_ms};
        lane.failures = 0;
        if (auto saved = outbox.save_pause(*lane.pause); !saved) {
            spdlog::error("forwarder: cannot save the pause of {} ({}); an agent restart would ask the collector again",
                          tool, saved.error());
        }
        spdlog::warn("forwarder: {} says {} is past its monthly quota; sending none of its events there until {}",
                     lane.destination.endpoint, tool, utc_minute_text(until_unix_ms));
        update_status(lane, [&](auto& st) {
            st.set_last_error(
                fmt::format("paused by the collector (monthly quota) until {}", utc_minute_text(until_unix_ms)));
        });
        publish_pause(lane);
        enter_paused(lane);
    }

    /// Ends the lane's pause if the clock has reached its reset time.
    void end_pause_if_due(Lane& lane) {
        if (!lane.pause || tk::wall_clock_ms() < lane.pause->until_unix_ms) return;
        spdlog::info("forwarder: {}'s quota pause at {} is over; sending again", lane.pause->tool,
                     lane.destination.endpoint);
        if (auto cleared = outbox.clear_pause(lane.destination); !cleared) {
            spdlog::warn("forwarder: {}", cleared.error());  // harmless: a restart finds it over and clears it
        }
        lane.pause.reset();
        publish_pause(lane);
    }

    /// The lane waits, paused, for its reset time (or kPauseRecheck, whichever is sooner).
    void enter_paused(Lane& lane) {
        lane.state = LaneState::paused;
        const std::int64_t left = lane.pause->until_unix_ms - tk::wall_clock_ms();
        lane.retry_timer.expires_after(std::clamp(milliseconds(left), milliseconds(0), kPauseRecheck));
        lane.retry_timer.async_wait([this, &lane](boost::system::error_code ec) {
            if (ec || stopping || lane.state != LaneState::paused) return;
            wake(lane);
        });
    }

    /// A round ends: idle, or back to paused.
    void end_round(Lane& lane) {
        if (lane.pause) return enter_paused(lane);
        lane.state = LaneState::idle;
    }

    void publish_pause(const Lane& lane) {
        std::lock_guard lock(status_mutex);
        if (lane.pause) {
            paused[lane.destination] = *lane.pause;
        } else {
            paused.erase(lane.destination);
        }
    }

    /// Events a finished wave delivered, still to be deleted from the queue, and their sent-log lines.
    struct Delivered {
        std::vector<std::string> ids;
        std::vector<std::string> log_lines;
    };

    Delivered take_delivered(Lane& lane) {
        Delivered done{std::move(lane.wave_delivered), std::move(lane.wave_sent_log)};
        lane.wave_delivered.clear();
        lane.wave_sent_log.clear();
        return done;
    }

    /// Deletes delivered events from the queue, then writes their lines to the sent log (they
    /// were sent either way). If the delete fails they stay queued and are sent again later; the
    /// collector answers "duplicate".
    Result<void> settle(Delivered& done) {
        Result<void> removed;
        if (!done.ids.empty()) removed = outbox.remove_delivered(done.ids);
        for (const auto& line : done.log_lines) sent_log.record(line);
        done.ids.clear();
        done.log_lines.clear();
        return removed;
    }

    /// Settles the wave that just finished; a failure makes the lane back off like a failed send.
    void finish_wave(Lane& lane) {
        auto done = take_delivered(lane);
        if (auto settled = settle(done); !settled) note_failure(lane, settled.error(), std::nullopt);
    }

    /// The next thing to send for a busy lane, or the end of its round. What the previous wave
    /// delivered is still queued: the next wave is fetched past it and put on the wire first, and
    /// only then is it deleted, so the collector and PostgreSQL work while the store does.
    /// The first local-queue failure ends the round: the lane backs off and says why in status.
    void step(Lane& lane) {
        Delivered done = take_delivered(lane);
        if (stopping) {
            (void)settle(done);  // if it fails they stay queued and are sent again after the restart
            lane.state = LaneState::idle;
            return;
        }
        if (lane.pause && lane.erasures.empty()) {  // paused: erasures only
            if (auto settled = settle(done); !settled) return retry_later(lane, settled.error(), std::nullopt);
            return enter_paused(lane);
        }
        if (!lane.url || !lane.erasures.empty()) {
            // Never more than one wave behind: erasures and give-ups start a round (done is empty).
            if (auto settled = settle(done); !settled) return retry_later(lane, settled.error(), std::nullopt);
            return lane.url ? send_erasure(lane) : give_up_on_endpoint(lane);
        }
        // Several batches at once while a backlog drains, but only one after a 413.
        const std::size_t parallel = lane.batch_events < options.max_batch_events ? 1 : options.max_in_flight;
        auto fetched = outbox.next_batch(lane.destination, lane.batch_events * parallel + done.ids.size(),
                                         options.max_batch_bytes * parallel);
        if (!fetched) {
            (void)settle(done);  // the store logs its own failure; the fetch's is the one reported
            return retry_later(lane, fetched.error(), std::nullopt);
        }
        auto& events = *fetched;
        if (!done.ids.empty()) {
            const std::unordered_set<std::string_view> skip(done.ids.begin(), done.ids.end());
            events.erase(std::remove_if(events.begin(), events.end(),
                                        [&](const OutgoingEvent& e) { return skip.count(e.id) > 0; }),
                         events.end());
            if (events.empty()) {  // the fetch may have been filled by them alone: look again
                if (auto settled = settle(done); !settled) return retry_later(lane, settled.error(), std::nullopt);
                return step(lane);
            }
        }
        if (events.empty()) {
            end_round(lane);
            lane.failures = 0;
            lane.batch_events = options.max_batch_events;
            return;
        }
        send_wave(lane, split(std::move(events), lane.batch_events, parallel));
        // The new wave is on the wire: a failure to settle the old one ends the round after it.
        if (auto settled = settle(done); !settled) note_failure(lane, settled.error(), std::nullopt);
    }

    /// Cuts `events` into at most `parallel` batches of at most `per_batch` events and
    /// max_batch_bytes of body (a lone oversize event still goes alone). The rest stays queued.
    std::vector<std::vector<OutgoingEvent>> split(std::vector<OutgoingEvent> events, std::size_t per_batch,
                                                  std::size_t parallel) const {
        std::vector<std::vector<OutgoingEvent>> batches;
        std::size_t bytes = 0;
        for (auto& event : events) {
            const std::size_t size = event.event.size() + wire::framing_overhead(event.event.size());
            if (batches.empty() || batches.back().size() >= per_batch ||
                (!batches.back().empty() && bytes + size > options.max_batch_bytes)) {
                if (batches.size() == parallel) break;
                batches.emplace_back();
                bytes = 0;
            }
            batches.back().push_back(std::move(event));
            bytes += size;
        }
        return batches;
    }

    http::Client& client(Lane& lane, std::size_t index) {
        while (lane.clients.size() <= index) {
            lane.clients.push_back(std::make_shared<http::Client>(io, tls, *lane.url, options.request_timeout));
        }
        return *lane.clients[index];
    }

    void send_wave(Lane& lane, std::vector<std::vector<OutgoingEvent>> batches) {
        lane.in_flight = batches.size();
        lane.wave_error.reset();
        lane.wave_retry_after.reset();
        lane.wave_paused_until.reset();
        update_status(lane, [](auto& s) { s.set_last_attempt_unix_ms(unix_ms_now()); });
        const std::string target = lane.url->target("/v1/batches");
        for (std::size_t i = 0; i < batches.size(); ++i) {
            auto batch = std::make_shared<std::vector<OutgoingEvent>>(std::move(batches[i]));
            std::string body = wire::encode_batch(*batch);
            client(lane, i).request(
                boost::beast::http::verb::post, target, lane.destination.ingest_key, "application/x-protobuf",
                std::move(body),
                [this, &lane, batch](http::Response response) { on_batch(lane, *batch, std::move(response)); });
        }
    }

    void on_batch(Lane& lane, const std::vector<OutgoingEvent>& batch, http::Response response) {
        --lane.in_flight;
        auto verdict = batch_verdict(response, batch, tk::wall_clock_ms());
        switch (verdict.action) {
            case BatchAction::ignore: break;  // stopping: nothing to record
            case BatchAction::pause:
                lane.wave_paused_until = std::max(lane.wave_paused_until.value_or(0), verdict.paused_until_unix_ms);
                lane.wave_tool = tool_of(batch);
                accept_ack(lane, batch, *verdict.ack, "");
                break;
            case BatchAction::deliver: accept_ack(lane, batch, *verdict.ack, verdict.error); break;
            case BatchAction::retry: note_failure(lane, verdict.error, verdict.retry_after); break;
            case BatchAction::shrink:
                // Too large for this collector: resend in halves (at once, not a failure).
                lane.batch_events = verdict.batch_events;
                spdlog::info("forwarder: {} refused {} events as too large; trying batches of {}",
                             lane.destination.endpoint, batch.size(), lane.batch_events);
                break;
            case BatchAction::dead_letter:
                if (auto moved = dead_letter(lane, batch, verdict.error); !moved)
                    note_failure(lane, moved.error(), std::nullopt);
                break;
        }
        if (lane.in_flight > 0) return;
        if (stopping) {
            finish_wave(lane);
            lane.state = LaneState::idle;
        } else if (lane.wave_paused_until) {  // the pause wins over the wave's other failures
            finish_wave(lane);
            start_pause(lane, *lane.wave_paused_until, lane.wave_tool);
        } else if (lane.wave_error) {
            finish_wave(lane);
            retry_later(lane, *lane.wave_error, lane.wave_retry_after);
        } else {
            lane.failures = 0;
            step(lane);
        }
    }

    /// Applies a BatchAck; `unanswered_error` (from the verdict) makes the lane retry what it left out.
    void accept_ack(Lane& lane, const std::vector<OutgoingEvent>& batch, const wire::AckOutcome& ack,
                    const std::string& unanswered_error) {
        const auto* outcome = &ack;
        // Deleted from the queue after the whole wave has answered (see step): one store
        // transaction per wave. A crash before then only means the collector sees them again and
        // answers "duplicate".
        lane.wave_delivered.insert(lane.wave_delivered.end(), outcome->delivered.begin(), outcome->delivered.end());
        for (const auto& [reason, ids] : outcome->rejected) {
            // If this fails they stay queued: sent again, refused again, moved once the store works.
            if (auto moved = outbox.dead_letter(ids, reason); !moved) note_failure(lane, moved.error(), std::nullopt);
        }
        lane.wave_sent_log.push_back(sent_log_line(lane.destination.endpoint, batch, *outcome));
        spdlog::debug("forwarder: {}: {} accepted, {} duplicate, {} rejected", lane.destination.endpoint,
                      outcome->accepted, outcome->duplicate, outcome->rejected_count);
        update_status(lane, [&](auto& s) {
            s.set_sent(s.sent() + outcome->delivered.size());
            s.set_last_success_unix_ms(unix_ms_now());
            if (!outcome->rejected.empty()) {
                s.set_last_error(
                    fmt::format("{} events {}", outcome->rejected_count, outcome->rejected.begin()->first));
            } else if (!lane.wave_error) {
                s.set_last_error("");
            }
        });
        if (!unanswered_error.empty()) note_failure(lane, unanswered_error, std::nullopt);
    }

    Result<void> dead_letter(Lane& lane, const std::vector<OutgoingEvent>& batch, const std::string& reason) {
        std::vector<std::string> ids;
        ids.reserve(batch.size());
        for (const auto& e : batch) ids.push_back(e.id);
        // Status first: whoever sees the events leave the queue (tk status, a test) also sees why.
        update_status(lane, [&](auto& s) { s.set_last_error(reason); });
        if (auto moved = outbox.dead_letter(ids, reason); !moved) return moved;
        spdlog::warn("forwarder: {} refused {} events for good ({}); moved to the dead letters",
                     lane.destination.endpoint, ids.size(), reason);
        return {};
    }

    /// The first failure of a wave decides the retry; the wave finishes before the lane waits.
    void note_failure(Lane& lane, std::string error, std::optional<milliseconds> retry_after) {
        if (!lane.wave_error) lane.wave_error = std::move(error);
        if (retry_after)
            lane.wave_retry_after = std::max(lane.wave_retry_after.value_or(milliseconds(0)), *retry_after);
    }

    void send_erasure(Lane& lane) {
        const ErasureRequest& request = lane.erasures.front();
        update_status(lane, [](auto& s) { s.set_last_attempt_unix_ms(unix_ms_now()); });
        const std::string target = lane.url->target("/v1/subjects/" + http::encode_path_segment(request.anonymous_id));
        client(lane, 0).request(boost::beast::http::verb::delete_, target, lane.destination.ingest_key, "", "",
                                [this, &lane](http::Response response) { on_erasure(lane, std::move(response)); });
    }

    void on_erasure(Lane& lane, http::Response response) {
        if (response.aborted || stopping) {
            lane.state = LaneState::idle;
            return;
        }
        if (!response.error.empty()) return retry_later(lane, "erasure: " + response.error, std::nullopt);
        const auto request_id = lane.erasures.front().request_id;
        switch (wire::erasure_verdict(response.status, response.body)) {
            case wire::ErasureVerdict::done: {
                if (auto done = outbox.erasure_done(request_id); !done)
                    return retry_later(lane, done.error(), std::nullopt);
                spdlog::info("forwarder: {} erased the data of an old anonymous id (request {})",
                             lane.destination.endpoint, request_id);
                update_status(lane, [](auto& s) { s.set_last_success_unix_ms(unix_ms_now()); });
                break;
            }
            case wire::ErasureVerdict::refused: {
                // Kept for tk status; the batches behind it go on (a refusal must not block them).
                const std::string reason = "erasure refused: " + http_error(response);
                if (auto kept = outbox.erasure_refused(request_id, reason); !kept) {
                    return retry_later(lane, kept.error(), std::nullopt);
                }
                spdlog::warn("forwarder: {} refused erasure request {} for good ({})", lane.destination.endpoint,
                             request_id, http_error(response));
                update_status(lane, [&](auto& s) { s.set_last_error(reason); });
                break;
            }
            case wire::ErasureVerdict::retry: {
                std::optional<milliseconds> retry_after;
                if (retryable_status(response.status)) {
                    retry_after = backoff::parse_retry_after(response.retry_after, std::chrono::system_clock::now());
                }
                const std::string prefix = response.status == 200 ? "erasure: unexpected " : "erasure: ";
                return retry_later(lane, prefix + http_error(response), retry_after);
            }
        }
        lane.erasures.erase(lane.erasures.begin());
        lane.failures = 0;
        step(lane);
    }

    /// An endpoint that cannot be parsed will never work: dead-letter its events and its erasures.
    /// Stops at the first store failure (and backs off): the same batch must not be tried forever.
    void give_up_on_endpoint(Lane& lane) {
        while (!lane.erasures.empty()) {
            const auto request_id = lane.erasures.front().request_id;
            if (auto kept = outbox.erasure_refused(request_id, "erasure not sent: " + lane.url.error()); !kept) {
                return retry_later(lane, kept.error(), std::nullopt);
            }
            spdlog::error("forwarder: erasure request {} cannot be sent: {}", request_id, lane.url.error());
            lane.erasures.erase(lane.erasures.begin());
        }
        for (;;) {
            auto events = outbox.next_batch(lane.destination, options.max_batch_events, options.max_batch_bytes);
            if (!events) return retry_later(lane, events.error(), std::nullopt);
            if (events->empty()) break;
            if (auto moved = dead_letter(lane, *events, lane.url.error()); !moved) {
                return retry_later(lane, moved.error(), std::nullopt);
            }
        }
        end_round(lane);
        lane.failures = 0;
    }

    void retry_later(Lane& lane, const std::string& error, std::optional<milliseconds> retry_after) {
        lane.state = LaneState::idle;
        if (stopping) return;
        ++lane.failures;
        const milliseconds delay = backoff::next_delay(lane.failures, retry_after, options.initial_backoff,
                                                       options.max_backoff, rng, options.max_retry_after);
        lane.state = LaneState::backing_off;
        update_status(lane, [&](auto& s) {
            s.set_last_error(error);
            s.set_next_retry_unix_ms(unix_ms_now() + delay.count());
        });
        spdlog::warn("forwarder: {}: {}; retrying in {} ms (attempt {})", lane.destination.endpoint, error,
                     delay.count(), lane.failures + 1);
        lane.retry_timer.expires_after(delay);
        lane.retry_timer.async_wait([this, &lane](boost::system::error_code ec) {
            if (ec || stopping || lane.state != LaneState::backing_off) return;
            lane.state = LaneState::idle;
            update_status(lane, [](auto& s) { s.set_next_retry_unix_ms(0); });
            wake(lane);
        });
    }

    /// See Forwarder::has_work. A lane is sending (a round or a request running) or backing off
    /// (a retry pending) exactly while its destination has something to send. A paused lane's
    /// events are not work: the pause is saved, and a restarted agent picks it up.
    bool has_work_now() {
        if (stopping) return false;
        if (coalesce_armed || pass_waiting) return true;  // a notify() or a failed pass not yet retried
        for (const auto& [destination, lane] : lanes) {
            if (lane->state == LaneState::sending || lane->state == LaneState::backing_off) return true;
        }
        // Idle lanes and yet something queued would be a missed wake-up; count it as work all the
        // same. A queue that cannot be read may hold work: never exit on a guess.
        const auto destinations = outbox.pending_destinations();
        if (!destinations) return true;
        for (const auto& destination : *destinations) {
            const auto lane = lanes.find(destination);
            if (lane == lanes.end() || !lane->second->pause) return true;
        }
        const auto erasures = outbox.pending_erasures();
        return !erasures || !erasures->empty();
    }

    void arm_coalesce_timer() {
        if (stopping) return;
        coalesce_timer.expires_after(options.coalesce);
        coalesce_timer.async_wait([this](boost::system::error_code ec) {
            coalesce_armed = false;  // before the pass: a notify from now on arms a new one
            if (!ec) pass();
        });
    }

    void shut_down() {
        stopping = true;
        coalesce_timer.cancel();
        pass_retry_timer.cancel();
        for (auto& [destination, lane] : lanes) {
            lane->retry_timer.cancel();
            for (auto& c : lane->clients) c->close();
        }
        work.reset();
    }

    Outbox& outbox;
    ForwarderOptions options;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    asio::ssl::context tls;
    asio::steady_timer coalesce_timer;
    std::atomic<bool> coalesce_armed{false};
    asio::steady_timer pass_retry_timer;  // after a pass could not read the queue
    bool pass_waiting = false;
    unsigned pass_failures = 0;
    std::mt19937_64 rng;
    SentLog sent_log;
    bool stopping = false;
    bool pauses_restored = false;  // the first pass reads the saved pauses
    std::map<Destination, std::unique_ptr<Lane>> lanes;

    std::mutex lifecycle_mutex;  // start/stop
    std::thread thread;
    bool stopped = false;

    mutable std::mutex status_mutex;
    std::map<Destination, telemetry_kit::v1::DestinationStatus> statuses;
    std::string local_error;              // the last pass's failure to read the queue; "" = it worked
    std::map<Destination, Pause> paused;  // the lanes' pauses, for status
};

Forwarder::Forwarder(Outbox& outbox, ForwarderOptions options)
    : impl_(std::make_unique<Impl>(outbox, std::move(options))) {}

Forwarder::~Forwarder() { stop(); }

void Forwarder::start() {
    std::lock_guard lock(impl_->lifecycle_mutex);
    if (impl_->thread.joinable() || impl_->stopped) return;
    asio::post(impl_->io, [impl = impl_.get()] { impl->pass(); });  // what was queued before we started
    impl_->thread = std::thread([impl = impl_.get()] {
        for (;;) {
            try {
                impl->io.run();
                return;
            } catch (const std::exception& e) {
                spdlog::error("forwarder: {}", e.what());
            }
        }
    });
    pthread_setname_np(impl_->thread.native_handle(), "tk-forwarder");
}

void Forwarder::notify() {
    if (impl_->coalesce_armed.exchange(true)) return;
    asio::post(impl_->io, [impl = impl_.get()] { impl->arm_coalesce_timer(); });
}

void Forwarder::stop() {
    std::lock_guard lock(impl_->lifecycle_mutex);
    impl_->stopped = true;
    if (!impl_->thread.joinable()) return;
    asio::post(impl_->io, [impl = impl_.get()] { impl->shut_down(); });
    impl_->thread.join();
}

void Forwarder::has_work(std::function<void(bool)> answer) {
    {
        std::lock_guard lock(impl_->lifecycle_mutex);  // stop() cannot join before our task ran
        if (impl_->thread.joinable() && !impl_->stopped) {
            asio::post(impl_->io, [impl = impl_.get(), answer] {
                bool work = true;  // if the queue cannot be read, assume there is work: never exit on a guess
                try {
                    work = impl->has_work_now();
                } catch (const std::exception& e) {
                    spdlog::error("forwarder: reading the queue failed: {}", e.what());
                }
                answer(work);
            });
            return;
        }
    }
    answer(false);
}

std::string Forwarder::local_error() const {
    std::lock_guard lock(impl_->status_mutex);
    return impl_->local_error;
}

std::vector<Pause> Forwarder::pauses() const {
    std::lock_guard lock(impl_->status_mutex);
    std::vector<Pause> out;
    for (const auto& [destination, pause] : impl_->paused) out.push_back(pause);
    return out;
}

std::vector<telemetry_kit::v1::DestinationStatus> Forwarder::status() const {
    std::lock_guard lock(impl_->status_mutex);
    std::vector<telemetry_kit::v1::DestinationStatus> out;
    out.reserve(impl_->statuses.size());
    for (const auto& [destination, status] : impl_->statuses) out.push_back(status);
    return out;
}

}  // namespace tk::agent
