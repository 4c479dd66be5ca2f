// The agent's SQLite queue (store.hpp).
//
// How: one writer thread (writer_loop) owns the connection. Sessions and control commands hand it
// batches and tasks; each turn it takes everything pending (waiting up to commit_wait for more
// while events arrive and nobody waits on a commit), inserts the batches' rows in id order with
// 32-row INSERT OR IGNORE statements (a chunk that may hold a duplicate is redone row by row under
// a savepoint, so each event's fate is exact), runs the tasks, commits once, and then completes
// every callback (FlushAcks, control replies). Bounds and expiry delete the oldest ids and count
// them per tool. The forwarder reads and deletes through the Outbox methods on its own thread
// under the outbox lock; their failures are results, never empty answers.
#include "tk/agent/store.hpp"

#include <pthread.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>
#include <type_traits>

#include "sqlite.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/uuid.hpp"

namespace tk::agent {
namespace v1 = telemetry_kit::v1;
using detail::Database;
using detail::Statement;
using detail::Transaction;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS settings(
  key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tools(
  tool_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, identity BLOB NOT NULL DEFAULT x'',
  consent INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS destinations(
  dest_id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, ingest_key TEXT NOT NULL, UNIQUE(endpoint, ingest_key));
CREATE TABLE IF NOT EXISTS events(
  id BLOB PRIMARY KEY, tool_id INTEGER NOT NULL, dest_id INTEGER NOT NULL, size INTEGER NOT NULL,
  payload BLOB NOT NULL) WITHOUT ROWID;
DROP INDEX IF EXISTS events_by_destination;
CREATE TABLE IF NOT EXISTS counters(
  tool_id INTEGER NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY(tool_id, reason)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters(
  id BLOB PRIMARY KEY, tool_id INTEGER NOT NULL, dest_id INTEGER NOT NULL, reason TEXT NOT NULL,
  at_ms INTEGER NOT NULL, payload BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasures(
  request_id INTEGER PRIMARY KEY, dest_id INTEGER NOT NULL, tool TEXT NOT NULL, anonymous_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refused_erasures(
  request_id INTEGER PRIMARY KEY, dest_id INTEGER NOT NULL, tool TEXT NOT NULL, reason TEXT NOT NULL,
  requested_ms INTEGER NOT NULL, refused_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pauses(
  endpoint TEXT NOT NULL, ingest_key TEXT NOT NULL, tool TEXT NOT NULL, reason TEXT NOT NULL,
  until_ms INTEGER NOT NULL, PRIMARY KEY(endpoint, ingest_key)) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

void configure(Database& db, bool synchronous_full) {
    db.exec("PRAGMA journal_mode=WAL");
    // NORMAL in WAL mode: a commit survives a crash of the agent (kill -9); only a power loss or OS
    // crash can lose the last commits. FULL (config store.synchronous) fsyncs every commit.
    db.exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    db.exec("PRAGMA foreign_keys=OFF");
}

/// Runs one Outbox operation under the outbox lock. A failure (SQLite throws) becomes the
/// operation's result, never an empty answer: "nothing queued" and "could not look" must not look
/// alike to the forwarder, or it would go idle (and the agent exit) with work queued.
template <class Work, class Value = std::invoke_result_t<Work&>>
Result<Value> outbox_call(std::mutex& mutex, const char* operation, Work&& work) {
    try {
        std::lock_guard lock(mutex);
        if constexpr (std::is_void_v<Value>) {
            work();
            return {};
        } else {
            return work();
        }
    } catch (const std::exception& e) {
        spdlog::error("store (outbox): {}: {}", operation, e.what());
        return Error{fmt::format("local queue: {}: {}", operation, e.what())};
    }
}

/// Event ids bound per statement by for_id_chunks: well below SQLITE_MAX_VARIABLE_NUMBER (999 in
/// SQLite builds before 3.32, 32766 since), and large enough that a wave of acks takes a few steps.
constexpr std::size_t kIdsPerStatement = 500;

/// Runs `head` + "(?,?,...)" + `tail` once per chunk of at most kIdsPerStatement of `ids` (none for
/// an empty list): `bind_fixed` binds the statement's first `fixed_params` parameters, the chunk's
/// ids are bound after them as blobs, and `on_row` sees every row a step returns. At most two
/// statements are prepared: one for full chunks and one for the last, shorter one.
template <class BindFixed, class OnRow>
void for_id_chunks(Database& db, std::string_view head, std::string_view tail, const std::vector<std::string>& ids,
                   int fixed_params, BindFixed bind_fixed, OnRow on_row) {
    std::optional<Statement> statement;
    std::size_t prepared_for = 0;
    for (std::size_t next = 0; next < ids.size();) {
        const std::size_t count = std::min(kIdsPerStatement, ids.size() - next);
        if (count != prepared_for) {
            std::string sql(head);
            sql += "(?";
            for (std::size_t i = 1; i < count; ++i) sql += ",?";
            sql += ')';
            sql += tail;
            statement.emplace(db, sql.c_str());  // finalizes the one for full chunks
            prepared_for = count;
        }
        bind_fixed(*statement);
        for (std::size_t i = 0; i < count; ++i) {
            statement->bind_blob(fixed_params + 1 + static_cast<int>(i), ids[next + i]);
        }
        while (statement->step()) on_row(std::as_const(*statement));
        statement->reset();
        next += count;
    }
}

}  // namespace

/// Rows per multi-row INSERT: one statement step for many rows costs much less than one per row.
constexpr std::size_t kRowsPerInsert = 32;

static std::string multi_row_insert() {
    std::string sql = "INSERT OR IGNORE INTO events(id, tool_id, dest_id, size, payload) VALUES(?,?,?,?,?)";
    for (std::size_t i = 1; i < kRowsPerInsert; ++i) sql += ",(?,?,?,?,?)";
    return sql;
}

struct EventStore::Statements {
    explicit Statements(Database& db)
        : insert_event(db, "INSERT OR IGNORE INTO events(id, tool_id, dest_id, size, payload) VALUES(?,?,?,?,?)"),
          insert_events(db, multi_row_insert().c_str()),
          savepoint(db, "SAVEPOINT rows"),
          release(db, "RELEASE rows"),
          rollback_to(db, "ROLLBACK TO rows"),
          add_counter(db,
                      "INSERT INTO counters(tool_id, reason, count) VALUES(?,?,?) "
                      "ON CONFLICT(tool_id, reason) DO UPDATE SET count = count + excluded.count"),
          find_tool(db, "SELECT tool_id FROM tools WHERE name = ?"),
          insert_tool(db, "INSERT INTO tools(name) VALUES(?)"),
          find_dest(db, "SELECT dest_id FROM destinations WHERE endpoint = ? AND ingest_key = ?"),
          insert_dest(db, "INSERT INTO destinations(endpoint, ingest_key) VALUES(?,?)"),
          oldest(db, "SELECT id, size FROM events ORDER BY id"),
          delete_through(db, "DELETE FROM events WHERE id <= ? RETURNING tool_id, size"),
          delete_before(db, "DELETE FROM events WHERE id < ? RETURNING tool_id, size") {}
    Statement insert_event;
    Statement insert_events;  // kRowsPerInsert rows
    Statement savepoint;
    Statement release;
    Statement rollback_to;
    Statement add_counter;
    Statement find_tool;
    Statement insert_tool;
    Statement find_dest;
    Statement insert_dest;
    Statement oldest;
    Statement delete_through;
    Statement delete_before;
};

EventStore::EventStore(const std::filesystem::path& file, StoreOptions options) : options_(options) {
    db_ = std::make_unique<Database>(file);
    configure(*db_, options_.synchronous_full);
    db_->exec(kSchema);
    statements_ = std::make_unique<Statements>(*db_);
    outbox_db_ = std::make_unique<Database>(file);
    configure(*outbox_db_, options_.synchronous_full);

    Statement totals(*db_, "SELECT count(*), coalesce(sum(size), 0) FROM events");
    if (totals.step()) {
        queue_events_ = totals.integer(0);
        queue_bytes_ = totals.integer(1);
    }
    Statement largest(*db_, "SELECT max(id) FROM events");
    if (largest.step()) max_id_ = std::string(largest.blob(0));
    Transaction tx(*db_);
    expire(true);
    enforce_bounds();  // the limits may have been lowered since the last run
    tx.commit();
    queue_events_ += pending_events_delta_;
    queue_bytes_ += pending_bytes_delta_;
    pending_events_delta_ = pending_bytes_delta_ = 0;
}

EventStore::~EventStore() {
    stop();
    statements_.reset();
}

StoredState EventStore::load() {
    StoredState state;
    Statement global(*db_, "SELECT value FROM settings WHERE key = 'global_consent'");
    if (global.step()) state.global_consent = static_cast<v1::Consent>(std::stoi(global.text(0)));
    Statement tools(*db_, "SELECT tool_id, name, identity, consent, generation FROM tools ORDER BY name");
    while (tools.step()) {
        ToolRecord record;
        record.name = tools.text(1);
        const auto identity = tools.blob(2);
        record.identity.ParseFromArray(identity.data(), static_cast<int>(identity.size()));
        record.consent = static_cast<v1::Consent>(tools.integer(3));
        record.generation = static_cast<std::uint64_t>(tools.integer(4));
        tool_ids_[record.name] = tools.integer(0);
        state.tools.push_back(std::move(record));
    }
    return state;
}

void EventStore::set_on_sendable(std::function<void()> callback) { on_sendable_ = std::move(callback); }

void EventStore::start() {
    if (!writer_.joinable()) {
        writer_ = std::thread([this] {
            pthread_setname_np(pthread_self(), "tk-store");  // visible in top -H and /proc
            writer_loop();
        });
    }
}

void EventStore::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (writer_.joinable()) writer_.join();
}

void EventStore::submit(IntakeBatch batch) {
    const std::size_t events = batch.events.size();
    Work work;
    work.batch = std::move(batch);
    {
        std::lock_guard lock(mutex_);
        if (has_waiter(work)) ++waiters_;
        queue_.push_back(std::move(work));
    }
    backlog_events_.fetch_add(events, std::memory_order_relaxed);
    wake_.notify_one();
}

void EventStore::run(std::function<void(Tx&)> work, std::function<void(bool)> done) {
    Work item;
    item.task = std::move(work);
    item.done = std::move(done);
    {
        std::lock_guard lock(mutex_);
        if (has_waiter(item)) ++waiters_;
        queue_.push_back(std::move(item));
    }
    wake_.notify_one();
}

void EventStore::writer_loop() {
    std::vector<Work> items;
    for (;;) {
        items.clear();
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
            if (queue_.empty()) return;  // stopping, and everything submitted is committed
            // Group commit: while events are arriving, wait a moment for more to share the commit
            // (only while work is pending, so an idle agent still never wakes up) — but not while
            // someone waits on the commit: a client's Flush at exit (its process cannot end before
            // the ack or its 100 ms deadline) or a control request. They get it at once.
            const std::size_t enough = options_.max_commit_events / 2;
            if (!stopping_ && options_.commit_wait.count() > 0 && backlog_events_.load() < enough && waiters_ == 0) {
                wake_.wait_for(lock, options_.commit_wait, [this, enough] {
                    return stopping_ || backlog_events_.load() >= enough || waiters_ > 0;
                });
            }
            std::size_t events = 0;
            while (!queue_.empty() && (items.empty() || events < options_.max_commit_events)) {
                if (queue_.front().batch) events += queue_.front().batch->events.size();
                if (has_waiter(queue_.front())) --waiters_;
                items.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        std::size_t taken_events = 0;
        bool committed = false;
        sendable_added_ = false;
        try {
            Transaction transaction(*db_);
            Tx tx(*this);
            for (auto& item : items) {
                if (item.batch) {
                    taken_events += item.batch->events.size();
                    collect(item);
                } else if (item.task) {
                    insert_rows();  // a task sees every batch submitted before it
                    item.task(tx);
                }
            }
            insert_rows();
            enforce_bounds();
            expire(false);
            transaction.commit();
            committed = true;
        } catch (const std::exception& e) {
            rows_.clear();
            spdlog::error("store: transaction of {} items rolled back: {}", items.size(), e.what());
            tool_ids_.clear();  // ids made in the rolled-back transaction are gone
            dest_ids_.clear();
        }
        if (committed) {
            queue_events_ += pending_events_delta_;
            queue_bytes_ += pending_bytes_delta_;
        }
        pending_events_delta_ = pending_bytes_delta_ = 0;
        backlog_events_.fetch_sub(taken_events, std::memory_order_relaxed);
        if (committed && sendable_added_ && on_sendable_) on_sendable_();
        for (auto& item : items) {
            if (item.batch) {
                auto& batch = *item.batch;
                if (committed && batch.counters) {
                    batch.counters->accepted += item.inserted;
                    batch.counters->duplicates += item.duplicates;
                }
                if (batch.on_commit) batch.on_commit(committed);
            } else if (item.done) {
                item.done(committed);
            }
        }
    }
}

void EventStore::collect(Work& work) {
    IntakeBatch& batch = *work.batch;
    work.tool_id = tool_id(batch.tool);
    work.dest_id = batch.destination ? dest_id(*batch.destination) : 0;
    for (const auto& event : batch.events) {
        std::uint64_t prefix = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            prefix = (prefix << 8) | (i < event.id.size() ? static_cast<unsigned char>(event.id[i]) : 0u);
        }
        rows_.push_back(Row{prefix, static_cast<std::uint32_t>(rows_.size()), &event, &work});
    }
    for (const auto& [reason, count] : batch.dropped) add_counter(work.tool_id, reason, count);
}

// Why in id order: ids are UUIDv7 (time order) and each connection's batch is in order, but the
// batches of one group commit come from many clients whose id ranges overlap. Inserted batch after
// batch, each batch's rows land between the previous batch's, in the middle of pages (a search
// from the root and a page split each time, and more pages to write); sorted, they go in one after
// the other. docs/benchmarks.md ("Where the intake time goes") has the measurement.
void EventStore::insert_rows() {
    if (rows_.empty()) return;
    // SQLite's order of BLOB keys (memcmp, then length), then submission order.
    std::sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) {
        if (a.id_prefix != b.id_prefix) return a.id_prefix < b.id_prefix;
        if (const int c = a.event->id.compare(b.event->id); c != 0) return c < 0;
        return a.order < b.order;
    });
    // An id twice in the transaction: the first submitted is stored, as INSERT OR IGNORE would.
    std::size_t kept = 0;
    for (const Row& row : rows_) {
        if (kept > 0 && rows_[kept - 1].event->id == row.event->id) {
            ++row.work->duplicates;
        } else {
            rows_[kept++] = row;
        }
    }
    std::size_t next = 0;
    for (; kept - next >= kRowsPerInsert; next += kRowsPerInsert) insert_chunk(&rows_[next]);
    for (; next < kept; ++next) insert_row(rows_[next]);
    rows_.clear();
}

void EventStore::stored(const Row& row) {
    ++row.work->inserted;
    ++pending_events_delta_;
    pending_bytes_delta_ += static_cast<std::int64_t>(row.event->payload.size());
    if (row.work->dest_id != 0) sendable_added_ = true;
    if (row.event->id > max_id_) max_id_ = row.event->id;
}

void EventStore::insert_row(const Row& row) {
    const PreparedEvent& event = *row.event;
    Statement& insert = statements_->insert_event;
    insert.bind_blob(1, event.id).bind(2, row.work->tool_id).bind(3, row.work->dest_id);
    insert.bind(4, static_cast<std::int64_t>(event.payload.size())).bind_blob(5, event.payload);
    insert.step();
    const bool inserted = db_->changes() == 1;
    insert.rewind();
    if (inserted) {
        stored(row);
    } else {
        ++row.work->duplicates;
    }
}

void EventStore::insert_chunk(const Row* rows) {
    Statement& insert = statements_->insert_events;
    for (std::size_t i = 0; i < kRowsPerInsert; ++i) {
        const PreparedEvent& event = *rows[i].event;
        const int base = static_cast<int>(i * 5);
        insert.bind_blob(base + 1, event.id)
            .bind(base + 2, rows[i].work->tool_id)
            .bind(base + 3, rows[i].work->dest_id);
        insert.bind(base + 4, static_cast<std::int64_t>(event.payload.size())).bind_blob(base + 5, event.payload);
    }
    // Every id above the largest queued one: none can be a duplicate (the chunk holds none twice).
    if (rows[0].event->id > max_id_) {
        insert.step();
        const bool all_new = db_->changes() == static_cast<std::int64_t>(kRowsPerInsert);
        insert.rewind();
        // Cannot happen while this agent is the database's only writer (the agent lock): throwing
        // rolls the transaction back rather than miscount what was stored.
        if (!all_new) throw std::runtime_error("store: an event id above the largest queued one was already queued");
        for (std::size_t i = 0; i < kRowsPerInsert; ++i) stored(rows[i]);
        return;
    }
    // Perhaps a duplicate of a queued event: if so, the chunk is undone (savepoint) and inserted
    // row by row, so that each event's fate and size are known exactly.
    statements_->savepoint.run();
    insert.step();
    const bool all_new = db_->changes() == static_cast<std::int64_t>(kRowsPerInsert);
    insert.rewind();
    if (all_new) {
        statements_->release.run();
        for (std::size_t i = 0; i < kRowsPerInsert; ++i) stored(rows[i]);
    } else {
        statements_->rollback_to.run();
        statements_->release.run();
        for (std::size_t i = 0; i < kRowsPerInsert; ++i) insert_row(rows[i]);
    }
}

std::int64_t EventStore::tool_id(const std::string& name) {
    if (auto it = tool_ids_.find(name); it != tool_ids_.end()) return it->second;
    auto& find = statements_->find_tool;
    find.bind_text(1, name);
    std::int64_t id = 0;
    if (find.step()) {
        id = find.integer(0);
        find.reset();
    } else {
        find.reset();
        statements_->insert_tool.bind_text(1, name).run();
        id = sqlite3_last_insert_rowid(db_->get());
    }
    tool_ids_[name] = id;
    return id;
}

std::int64_t EventStore::dest_id(const Destination& destination) {
    if (auto it = dest_ids_.find(destination); it != dest_ids_.end()) return it->second;
    auto& find = statements_->find_dest;
    find.bind_text(1, destination.endpoint).bind_text(2, destination.ingest_key);
    std::int64_t id = 0;
    if (find.step()) {
        id = find.integer(0);
        find.reset();
    } else {
        find.reset();
        statements_->insert_dest.bind_text(1, destination.endpoint).bind_text(2, destination.ingest_key).run();
        id = sqlite3_last_insert_rowid(db_->get());
    }
    dest_ids_[destination] = id;
    return id;
}

void EventStore::add_counter(std::int64_t tool, const std::string& reason, std::uint64_t count) {
    if (count == 0) return;
    statements_->add_counter.bind(1, tool).bind_text(2, reason).bind(3, static_cast<std::int64_t>(count)).run();
}

void EventStore::delete_and_count(Statement& statement, const char* reason) {
    std::map<std::int64_t, std::uint64_t> per_tool;
    while (statement.step()) {
        ++per_tool[statement.integer(0)];
        --pending_events_delta_;
        pending_bytes_delta_ -= statement.integer(1);
    }
    statement.reset();
    for (const auto& [tool, count] : per_tool) add_counter(tool, reason, count);
}

void EventStore::enforce_bounds() {
    const std::int64_t events = queue_events_.load() + pending_events_delta_;
    const std::int64_t bytes = queue_bytes_.load() + pending_bytes_delta_;
    std::int64_t excess_events = events - static_cast<std::int64_t>(options_.max_queue_events);
    std::int64_t excess_bytes = bytes - static_cast<std::int64_t>(options_.max_queue_bytes);
    if (excess_events <= 0 && excess_bytes <= 0) return;
    // Find the newest id that has to go so that both bounds hold, then delete through it.
    auto& oldest = statements_->oldest;
    std::string last;
    while ((excess_events > 0 || excess_bytes > 0) && oldest.step()) {
        last = std::string(oldest.blob(0));
        --excess_events;
        excess_bytes -= oldest.integer(1);
    }
    oldest.reset();
    if (last.empty()) return;
    statements_->delete_through.bind_blob(1, last);
    delete_and_count(statements_->delete_through, "shed");
}

void EventStore::expire(bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_expire_ < std::chrono::minutes(1)) return;
    last_expire_ = now;
    const std::string cutoff = uuid_v7_floor(now_unix_ms() - options_.retention.count());
    statements_->delete_before.bind_blob(1, cutoff);
    delete_and_count(statements_->delete_before, "expired");
    // Dead letters and refused erasures are kept to be seen, not forever.
    const std::int64_t dead_cutoff = now_unix_ms() - options_.dead_letter_retention.count();
    Statement old_dead(*db_, "DELETE FROM dead_letters WHERE at_ms < ?");
    old_dead.bind(1, dead_cutoff).run();
    Statement old_refused(*db_, "DELETE FROM refused_erasures WHERE refused_ms < ?");
    old_refused.bind(1, dead_cutoff).run();
}

// ---- tasks ----

void EventStore::Tx::save_tool(const std::string& name, const v1::ToolIdentity& identity) {
    const std::int64_t tool = store_.tool_id(name);
    const std::string blob = identity.SerializeAsString();
    Statement update(*store_.db_, "UPDATE tools SET identity = ? WHERE tool_id = ?");
    update.bind_blob(1, blob).bind(2, tool).run();
}

void EventStore::Tx::set_global_consent(v1::Consent consent) {
    Statement upsert(*store_.db_,
                     "INSERT INTO settings(key, value) VALUES('global_consent', ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    upsert.bind_text(1, std::to_string(static_cast<int>(consent))).run();
}

std::uint64_t EventStore::Tx::set_tool_consent(const std::string& name, v1::Consent consent) {
    const std::int64_t tool = store_.tool_id(name);
    Statement update(*store_.db_, "UPDATE tools SET consent = ? WHERE tool_id = ?");
    update.bind(1, consent).bind(2, tool).run();
    if (consent != v1::CONSENT_DENIED) return 0;
    const auto before = store_.pending_events_delta_;
    Statement remove(*store_.db_, "DELETE FROM events WHERE tool_id = ? RETURNING tool_id, size");
    remove.bind(1, tool);
    store_.delete_and_count(remove, "consent_withdrawn");
    // What the collector refused of this tool's data is the person's data too: gone with consent.
    Statement remove_dead(*store_.db_, "DELETE FROM dead_letters WHERE tool_id = ?");
    remove_dead.bind(1, tool).run();
    return static_cast<std::uint64_t>(before - store_.pending_events_delta_);
}

std::uint64_t EventStore::Tx::forget_tool(const std::string& name, std::uint64_t new_generation,
                                          const std::string& old_anonymous_id,
                                          const std::optional<Destination>& destination) {
    const std::int64_t tool = store_.tool_id(name);
    std::uint64_t deleted = 0;
    Statement remove(*store_.db_, "DELETE FROM events WHERE tool_id = ? RETURNING size");
    remove.bind(1, tool);
    while (remove.step()) {
        ++deleted;
        --store_.pending_events_delta_;
        store_.pending_bytes_delta_ -= remove.integer(0);
    }
    remove.reset();
    Statement remove_dead(*store_.db_, "DELETE FROM dead_letters WHERE tool_id = ?");
    remove_dead.bind(1, tool).run();
    deleted += static_cast<std::uint64_t>(store_.db_->changes());
    Statement remove_counters(*store_.db_, "DELETE FROM counters WHERE tool_id = ?");
    remove_counters.bind(1, tool).run();
    Statement update(*store_.db_, "UPDATE tools SET generation = ? WHERE tool_id = ?");
    update.bind(1, static_cast<std::int64_t>(new_generation)).bind(2, tool).run();
    if (destination) {
        Statement erase(*store_.db_, "INSERT INTO erasures(dest_id, tool, anonymous_id, created_ms) VALUES(?,?,?,?)");
        erase.bind(1, store_.dest_id(*destination)).bind_text(2, name).bind_text(3, old_anonymous_id);
        erase.bind(4, now_unix_ms()).run();
        store_.sendable_added_ = true;  // wakes the forwarder
    }
    return deleted;
}

void EventStore::Tx::fill_status(v1::StatusResponse& status) {
    Database& db = *store_.db_;
    status.set_queue_events(static_cast<std::uint64_t>(store_.queue_events_.load() + store_.pending_events_delta_));
    status.set_queue_bytes(static_cast<std::uint64_t>(store_.queue_bytes_.load() + store_.pending_bytes_delta_));
    status.set_max_queue_events(store_.options_.max_queue_events);
    status.set_max_queue_bytes(store_.options_.max_queue_bytes);
    Statement oldest(db, "SELECT id FROM events ORDER BY id LIMIT 1");
    status.set_oldest_event_unix_ms(oldest.step() ? uuid_v7_unix_ms(oldest.blob(0)) : 0);

    std::map<std::int64_t, v1::ToolStatus*> by_id;
    Statement tools(db, "SELECT tool_id, name, identity, consent FROM tools ORDER BY name");
    while (tools.step()) {
        auto* tool = status.add_tools();
        tool->set_tool(tools.text(1));
        v1::ToolIdentity identity;
        const auto blob = tools.blob(2);
        identity.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
        tool->set_consent(static_cast<v1::Consent>(tools.integer(3)));
        tool->set_consent_mode(identity.consent_mode());
        tool->set_endpoint(identity.endpoint());
        tool->set_local_only(identity.local_only());
        by_id[tools.integer(0)] = tool;
    }
    Statement queued(db, "SELECT tool_id, count(*) FROM events GROUP BY tool_id");
    while (queued.step()) {
        if (auto it = by_id.find(queued.integer(0)); it != by_id.end()) it->second->set_queued(queued.integer(1));
    }
    Statement dead(db, "SELECT tool_id, count(*) FROM dead_letters GROUP BY tool_id");
    while (dead.step()) {
        if (auto it = by_id.find(dead.integer(0)); it != by_id.end()) it->second->set_dead_lettered(dead.integer(1));
    }
    Statement refused(db,
                      "SELECT r.tool, d.endpoint, r.reason, r.requested_ms, r.refused_ms FROM refused_erasures r "
                      "JOIN destinations d ON r.dest_id = d.dest_id ORDER BY r.refused_ms, r.request_id");
    while (refused.step()) {
        for (auto& [id, tool] : by_id) {
            if (tool->tool() != refused.text(0)) continue;
            auto* erasure = tool->add_refused_erasures();
            erasure->set_endpoint(refused.text(1));
            erasure->set_reason(refused.text(2));
            erasure->set_requested_unix_ms(refused.integer(3));
            erasure->set_refused_unix_ms(refused.integer(4));
        }
    }
    Statement counters(db, "SELECT tool_id, reason, count FROM counters ORDER BY tool_id, reason");
    while (counters.step()) {
        auto it = by_id.find(counters.integer(0));
        if (it == by_id.end()) continue;
        const std::string reason = counters.text(1);
        const auto count = static_cast<std::uint64_t>(counters.integer(2));
        if (reason == "shed") {
            it->second->set_shed(count);
        } else if (reason == "expired") {
            it->second->set_expired(count);
        } else {
            auto* dropped = it->second->add_dropped();
            dropped->set_reason(reason);
            dropped->set_count(count);
        }
    }
    Statement destinations(db,
                           "SELECT d.endpoint, "
                           "(SELECT count(*) FROM events e WHERE e.dest_id = d.dest_id), "
                           "(SELECT count(*) FROM dead_letters x WHERE x.dest_id = d.dest_id) "
                           "FROM destinations d ORDER BY d.endpoint");
    std::map<std::string, v1::DestinationStatus*> by_endpoint;
    while (destinations.step()) {
        const std::string endpoint = destinations.text(0);
        auto*& destination = by_endpoint[endpoint];
        if (destination == nullptr) {
            destination = status.add_destinations();
            destination->set_endpoint(endpoint);
        }
        destination->set_queued(destination->queued() + destinations.integer(1));
        destination->set_dead_lettered(destination->dead_lettered() + destinations.integer(2));
    }
}

void EventStore::Tx::list_events(const std::string& tool, std::size_t limit, v1::EventsResponse& response) {
    Database& db = *store_.db_;
    std::int64_t tool_id = -1;
    if (!tool.empty()) {
        Statement find(db, "SELECT tool_id FROM tools WHERE name = ?");
        find.bind_text(1, tool);
        if (!find.step()) return;  // unknown tool: nothing queued
        tool_id = find.integer(0);
    }
    Statement total(db, tool_id < 0 ? "SELECT count(*) FROM events WHERE ?1 < 0"
                                    : "SELECT count(*) FROM events WHERE tool_id = ?1");
    total.bind(1, tool_id);
    if (total.step()) response.set_total(static_cast<std::uint64_t>(total.integer(0)));
    Statement select(db, tool_id < 0 ? "SELECT payload FROM events WHERE ?1 < 0 ORDER BY id LIMIT ?2"
                                     : "SELECT payload FROM events WHERE tool_id = ?1 ORDER BY id LIMIT ?2");
    select.bind(1, tool_id).bind(2, static_cast<std::int64_t>(limit));
    while (select.step()) {
        const auto payload = select.blob(0);
        response.add_events()->ParseFromArray(payload.data(), static_cast<int>(payload.size()));
    }
}

// ---- Outbox (forwarder thread, second connection) ----

Result<std::vector<Destination>> EventStore::pending_destinations() {
    return outbox_call(outbox_mutex_, "pending_destinations", [this] {
        std::vector<Destination> result;
        Statement select(
            *outbox_db_,
            "SELECT endpoint, ingest_key FROM destinations d WHERE dest_id != 0 AND ("
            "EXISTS (SELECT 1 FROM events e WHERE e.dest_id = d.dest_id) OR "
            "EXISTS (SELECT 1 FROM erasures r WHERE r.dest_id = d.dest_id)) ORDER BY endpoint, ingest_key");
        while (select.step()) result.push_back(Destination{select.text(0), select.text(1)});
        return result;
    });
}

Result<std::vector<OutgoingEvent>> EventStore::next_batch(const Destination& destination, std::size_t max_events,
                                                          std::size_t max_bytes) {
    return outbox_call(outbox_mutex_, "next_batch", [&] {
        std::vector<OutgoingEvent> result;
        Statement select(*outbox_db_,
                         "SELECT e.id, e.payload FROM events e JOIN destinations d ON e.dest_id = d.dest_id "
                         "WHERE d.endpoint = ? AND d.ingest_key = ? ORDER BY e.id LIMIT ?");
        select.bind_text(1, destination.endpoint).bind_text(2, destination.ingest_key);
        select.bind(3, static_cast<std::int64_t>(max_events));
        std::size_t bytes = 0;
        while (select.step()) {
            const auto payload = select.blob(1);
            if (!result.empty() && bytes + payload.size() > max_bytes) break;
            bytes += payload.size();
            result.push_back(OutgoingEvent{std::string(select.blob(0)), std::string(payload)});
        }
        return result;
    });
}

std::pair<std::int64_t, std::int64_t> EventStore::remove_queued(const std::vector<std::string>& ids) {
    std::int64_t events = 0;
    std::int64_t bytes = 0;
    for_id_chunks(
        *outbox_db_, "DELETE FROM events WHERE id IN ", " RETURNING size", ids, 0, [](Statement&) {},
        [&](const Statement& row) {
            ++events;
            bytes += row.integer(0);
        });
    return {events, bytes};
}

Result<void> EventStore::remove_delivered(const std::vector<std::string>& ids) {
    return outbox_call(outbox_mutex_, "remove_delivered", [&] {
        Transaction transaction(*outbox_db_);
        const auto [events, bytes] = remove_queued(ids);
        transaction.commit();
        queue_events_ -= events;
        queue_bytes_ -= bytes;
    });
}

Result<void> EventStore::dead_letter(const std::vector<std::string>& ids, const std::string& reason) {
    return outbox_call(outbox_mutex_, "dead_letter", [&] {
        Transaction transaction(*outbox_db_);
        const std::int64_t now = now_unix_ms();
        for_id_chunks(
            *outbox_db_,
            "INSERT OR REPLACE INTO dead_letters(id, tool_id, dest_id, reason, at_ms, payload) "
            "SELECT id, tool_id, dest_id, ?1, ?2, payload FROM events WHERE id IN ",
            "", ids, 2, [&](Statement& copy) { copy.bind_text(1, reason).bind(2, now); }, [](const Statement&) {});
        const auto [events, bytes] = remove_queued(ids);
        bound_dead_letters();
        transaction.commit();
        queue_events_ -= events;
        queue_bytes_ -= bytes;
    });
}

void EventStore::bound_dead_letters() {
    const auto keep = static_cast<std::int64_t>(options_.max_dead_letters);
    Statement dead(*outbox_db_,
                   "DELETE FROM dead_letters WHERE id IN "
                   "(SELECT id FROM dead_letters ORDER BY at_ms DESC, id DESC LIMIT -1 OFFSET ?)");
    dead.bind(1, keep).run();
    const auto dead_dropped = outbox_db_->changes();
    Statement refused(*outbox_db_,
                      "DELETE FROM refused_erasures WHERE request_id IN "
                      "(SELECT request_id FROM refused_erasures ORDER BY refused_ms DESC, request_id DESC "
                      "LIMIT -1 OFFSET ?)");
    refused.bind(1, keep).run();
    if (dead_dropped > 0)
        spdlog::info("store: {} oldest dead letters dropped (at most {} are kept)", dead_dropped, keep);
}

Result<std::vector<ErasureRequest>> EventStore::pending_erasures() {
    return outbox_call(outbox_mutex_, "pending_erasures", [this] {
        std::vector<ErasureRequest> result;
        Statement select(*outbox_db_,
                         "SELECT r.request_id, d.endpoint, d.ingest_key, r.anonymous_id FROM erasures r "
                         "JOIN destinations d ON r.dest_id = d.dest_id ORDER BY r.request_id");
        while (select.step()) {
            ErasureRequest request;
            request.request_id = select.integer(0);
            request.destination = Destination{select.text(1), select.text(2)};
            request.anonymous_id = select.text(3);
            result.push_back(std::move(request));
        }
        return result;
    });
}

Result<void> EventStore::erasure_done(std::int64_t request_id) {
    return outbox_call(outbox_mutex_, "erasure_done", [&] {
        Statement remove(*outbox_db_, "DELETE FROM erasures WHERE request_id = ?");
        remove.bind(1, request_id).run();
    });
}

Result<void> EventStore::erasure_refused(std::int64_t request_id, const std::string& reason) {
    return outbox_call(outbox_mutex_, "erasure_refused", [&] {
        Transaction transaction(*outbox_db_);
        // The old anonymous id is not kept: the person needs to see what was refused, not the id.
        Statement copy(
            *outbox_db_,
            "INSERT OR REPLACE INTO refused_erasures(request_id, dest_id, tool, reason, requested_ms, "
            "refused_ms) SELECT request_id, dest_id, tool, ?, created_ms, ? FROM erasures WHERE request_id = ?");
        copy.bind_text(1, reason).bind(2, now_unix_ms()).bind(3, request_id).run();
        Statement remove(*outbox_db_, "DELETE FROM erasures WHERE request_id = ?");
        remove.bind(1, request_id).run();
        bound_dead_letters();
        transaction.commit();
    });
}

Result<void> EventStore::save_pause(const Pause& pause) {
    return outbox_call(outbox_mutex_, "save_pause", [&] {
        Statement save(
            *outbox_db_,
            "INSERT OR REPLACE INTO pauses(endpoint, ingest_key, tool, reason, until_ms) VALUES (?, ?, ?, ?, ?)");
        save.bind_text(1, pause.destination.endpoint).bind_text(2, pause.destination.ingest_key);
        save.bind_text(3, pause.tool).bind_text(4, pause.reason).bind(5, pause.until_unix_ms).run();
    });
}

Result<void> EventStore::clear_pause(const Destination& destination) {
    return outbox_call(outbox_mutex_, "clear_pause", [&] {
        Statement remove(*outbox_db_, "DELETE FROM pauses WHERE endpoint = ? AND ingest_key = ?");
        remove.bind_text(1, destination.endpoint).bind_text(2, destination.ingest_key).run();
    });
}

Result<std::vector<Pause>> EventStore::pauses() {
    return outbox_call(outbox_mutex_, "pauses", [this] {
        std::vector<Pause> result;
        Statement select(*outbox_db_, "SELECT endpoint, ingest_key, tool, reason, until_ms FROM pauses");
        while (select.step()) {
            result.push_back(
                Pause{Destination{select.text(0), select.text(1)}, select.text(2), select.text(3), select.integer(4)});
        }
        return result;
    });
}

}  // namespace tk::agent
