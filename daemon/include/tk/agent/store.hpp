#pragma once
/// EventStore: the agent's SQLite queue (WAL). One writer thread owns the main connection and
/// commits everything handed to it in group commits: each loop takes every pending batch and
/// task, runs them in one transaction, commits, then completes their callbacks (flush acks).
/// Duplicates by event id are ignored (INSERT OR IGNORE on the primary key). The queue is bounded
/// (events and bytes: the oldest are shed) and old events expire; both are counted per tool.
/// The forwarder reaches the queue only through the Outbox interface, on a second connection.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "telemetry_kit/v1/agent.pb.h"
#include "tk/agent/outbox.hpp"

namespace tk::agent {

namespace detail {
class Database;
class Statement;
}  // namespace detail

struct StoreOptions {
    std::size_t max_queue_events = 100'000;
    std::size_t max_queue_bytes = 64u << 20;
    std::chrono::milliseconds retention{std::chrono::hours(24 * 30)};
    std::size_t max_commit_events = 8192;
    /// How long the writer waits for more events to share a commit (0 = commit at once).
    std::chrono::microseconds commit_wait{1000};
    bool synchronous_full = false;
    /// Dead letters (events the collector refused) and refused erasures are kept for the person to
    /// see in `tk status`, but not forever: at most this many of each (the oldest go first)...
    std::size_t max_dead_letters = 10'000;
    /// ...and none older than this.
    std::chrono::milliseconds dead_letter_retention{std::chrono::hours(24 * 30)};
};

/// One event ready to store: its 16-byte id and the serialized, scrubbed Event.
struct PreparedEvent {
    std::string id;
    std::string payload;
};

/// What one connection has had stored so far (FlushAck). Written by the writer thread after commit.
struct IntakeCounters {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> duplicates{0};
};

/// Events of one tool from one connection (or the spool), and the drops policy counted meanwhile.
struct IntakeBatch {
    std::string tool;
    std::optional<Destination> destination;  ///< none: never sent (local only / no endpoint)
    std::vector<PreparedEvent> events;
    std::vector<std::pair<std::string, std::uint64_t>> dropped;  ///< reason, count
    std::shared_ptr<IntakeCounters> counters;                    ///< may be null
    std::function<void(bool committed)> on_commit;               ///< writer thread, after commit; may be empty
};

/// A tool as the store persists it.
struct ToolRecord {
    std::string name;
    telemetry_kit::v1::ToolIdentity identity;  ///< as of its latest Hello
    telemetry_kit::v1::Consent consent = telemetry_kit::v1::CONSENT_UNSET;
    std::uint64_t generation = 0;  ///< bumped by forget: rotates the anonymous id
};

/// What is loaded at start.
struct StoredState {
    telemetry_kit::v1::Consent global_consent = telemetry_kit::v1::CONSENT_UNSET;
    std::vector<ToolRecord> tools;
};

class EventStore final : public Outbox {
public:
    /// Opens (creating) the database, applies the schema and expires old events.
    /// Throws std::runtime_error on failure.
    EventStore(const std::filesystem::path& file, StoreOptions options);
    ~EventStore() override;  ///< stop()s
    EventStore(const EventStore&) = delete;
    EventStore& operator=(const EventStore&) = delete;

    /// Tools and consent as stored. Call before start().
    StoredState load();

    /// Called on the writer thread after a commit that added sendable events.
    void set_on_sendable(std::function<void()> callback);

    /// Starts the writer thread.
    void start();
    /// Commits everything already submitted, then joins the writer thread. Idempotent.
    void stop();

    /// Queues a batch for the next group commit. Thread-safe, never blocks on I/O.
    void submit(IntakeBatch batch);

    /// Writer-thread access for tasks (consent, forget, status, events): valid only inside run().
    class Tx;
    /// Runs `work` on the writer thread inside the next transaction, then `done(committed)` after it
    /// commits (or rolls back: committed = false). FIFO with submit(): a task sees every batch
    /// submitted before it.
    void run(std::function<void(Tx&)> work, std::function<void(bool committed)> done);

    /// Events (and their bytes) waiting for the writer; intake slows down when this grows.
    std::size_t backlog_events() const { return backlog_events_.load(std::memory_order_relaxed); }

    std::uint64_t queue_events() const { return queue_events_.load(); }
    std::uint64_t queue_bytes() const { return queue_bytes_.load(); }
    const StoreOptions& options() const { return options_; }

    // Outbox (forwarder thread; its own connection).
    Result<std::vector<Destination>> pending_destinations() override;
    Result<std::vector<OutgoingEvent>> next_batch(const Destination& destination, std::size_t max_events,
                                                  std::size_t max_bytes) override;
    Result<void> remove_delivered(const std::vector<std::string>& ids) override;
    Result<void> dead_letter(const std::vector<std::string>& ids, const std::string& reason) override;
    Result<std::vector<ErasureRequest>> pending_erasures() override;
    Result<void> erasure_done(std::int64_t request_id) override;
    Result<void> erasure_refused(std::int64_t request_id, const std::string& reason) override;
    Result<void> save_pause(const Pause& pause) override;
    Result<void> clear_pause(const Destination& destination) override;
    Result<std::vector<Pause>> pauses() override;

private:
    struct Work {
        std::optional<IntakeBatch> batch;
        std::function<void(Tx&)> task;
        std::function<void(bool)> done;
        std::uint64_t inserted = 0;
        std::uint64_t duplicates = 0;
        std::int64_t tool_id = 0;  ///< the batch's, once collect() resolved them
        std::int64_t dest_id = 0;
    };
    /// Whether someone is blocked until `work` commits (a flush's ack, a control request's reply).
    static bool has_waiter(const Work& work) { return work.batch ? bool(work.batch->on_commit) : bool(work.done); }
    /// One event of the open transaction, waiting to be inserted in id order (insert_rows()).
    struct Row {
        std::uint64_t id_prefix;  ///< the id's first 8 bytes, big-endian: most comparisons end here
        std::uint32_t order;      ///< submission order: of two equal ids, the first is stored
        const PreparedEvent* event;
        Work* work;
    };
    struct Statements;
    friend class Tx;

    void writer_loop();
    /// A batch's events become rows of the transaction; its drop counts are added at once.
    void collect(Work& work);
    /// Inserts the collected rows, by id, and forgets them (before each task, and before commit).
    void insert_rows();
    /// Inserts kRowsPerInsert rows (ids ascending, none twice) in one statement.
    void insert_chunk(const Row* rows);
    void insert_row(const Row& row);
    void stored(const Row& row);
    std::int64_t tool_id(const std::string& name);
    std::int64_t dest_id(const Destination& destination);
    void add_counter(std::int64_t tool, const std::string& reason, std::uint64_t count);
    void enforce_bounds();
    void expire(bool force);
    void delete_and_count(detail::Statement& select_delete, const char* reason);
    /// Keeps the dead letters and refused erasures within max_dead_letters (outbox connection).
    void bound_dead_letters();
    /// Deletes queued events by id (outbox connection, inside its transaction): {events, bytes}.
    std::pair<std::int64_t, std::int64_t> remove_queued(const std::vector<std::string>& ids);

    StoreOptions options_;
    std::unique_ptr<detail::Database> db_;  // writer thread (and load() before start)
    std::unique_ptr<Statements> statements_;
    std::unique_ptr<detail::Database> outbox_db_;  // forwarder thread
    std::mutex outbox_mutex_;

    std::unordered_map<std::string, std::int64_t> tool_ids_;
    std::map<Destination, std::int64_t> dest_ids_;
    std::chrono::steady_clock::time_point last_expire_{};
    std::int64_t pending_events_delta_ = 0;  // inside the open transaction
    std::int64_t pending_bytes_delta_ = 0;
    bool sendable_added_ = false;
    std::vector<Row> rows_;  // collect() -> insert_rows(), writer thread
    /// No queued event has an id above this one (the largest ever inserted, or found at start):
    /// a chunk whose first id is above it cannot hold a duplicate and needs no savepoint.
    std::string max_id_;

    std::atomic<std::int64_t> queue_events_{0};
    std::atomic<std::int64_t> queue_bytes_{0};
    std::atomic<std::size_t> backlog_events_{0};

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Work> queue_;
    std::size_t waiters_ = 0;  ///< items in queue_ someone is blocked on (has_waiter)
    bool stopping_ = false;
    std::thread writer_;
    std::function<void()> on_sendable_;
};

/// Operations for tasks run by EventStore::run (writer thread, inside the open transaction).
class EventStore::Tx {
public:
    explicit Tx(EventStore& store) : store_(store) {}

    /// Records the tool's latest identity (from a Hello).
    void save_tool(const std::string& name, const telemetry_kit::v1::ToolIdentity& identity);
    void set_global_consent(telemetry_kit::v1::Consent consent);
    /// Sets a tool's consent; denying deletes its queued events (counted "consent_withdrawn") and
    /// its dead letters. Returns the number of queued events deleted.
    std::uint64_t set_tool_consent(const std::string& name, telemetry_kit::v1::Consent consent);
    /// Deletes the tool's queued and dead-lettered events and counters, stores its new generation,
    /// and queues an erasure of `old_anonymous_id` at `destination` (if any). Returns events deleted.
    std::uint64_t forget_tool(const std::string& name, std::uint64_t new_generation,
                              const std::string& old_anonymous_id, const std::optional<Destination>& destination);
    /// Queue depth, oldest event, per tool counts and per destination counts.
    void fill_status(telemetry_kit::v1::StatusResponse& status);
    /// The queued events (oldest first), at most `limit`; `total` = how many are queued in all.
    void list_events(const std::string& tool, std::size_t limit, telemetry_kit::v1::EventsResponse& response);
    /// Expires events past the retention window now.
    void expire() { store_.expire(true); }

private:
    EventStore& store_;
};

}  // namespace tk::agent
