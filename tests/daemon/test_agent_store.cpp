// EventStore, in process: group commit and dedup, and the Outbox contract the forwarder relies on.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "support/process.hpp"
#include "tk/agent/store.hpp"
#include "tk/common/uuid.hpp"

using namespace tk::agent;
namespace v1 = telemetry_kit::v1;

namespace {

PreparedEvent prepared(const std::string& name) {
    v1::Event event;
    event.set_id(tk::to_bytes(tk::uuid_v7()));
    event.set_name(name);
    return PreparedEvent{event.id(), event.SerializeAsString()};
}

/// Submits and waits for the commit.
bool commit(EventStore& store, IntakeBatch batch) {
    std::promise<bool> done;
    batch.on_commit = [&done](bool ok) { done.set_value(ok); };
    store.submit(std::move(batch));
    return done.get_future().get();
}

template <class Work>
void in_writer(EventStore& store, Work work) {
    std::promise<bool> done;
    store.run(work, [&done](bool ok) { done.set_value(ok); });
    REQUIRE(done.get_future().get());
}

}  // namespace

TEST_CASE("outbox: batches per destination, delete on ack, dead letters, erasures") {
    tk::test::TempDir dir;
    EventStore store(dir / "queue.db", StoreOptions{});
    store.load();
    std::atomic<int> notified{0};
    store.set_on_sendable([&notified] { ++notified; });
    store.start();

    const Destination a{"https://a.example", "key-a"};
    const Destination b{"https://b.example", "key-b"};
    IntakeBatch batch_a;
    batch_a.tool = "alpha";
    batch_a.destination = a;
    batch_a.counters = std::make_shared<IntakeCounters>();
    for (int i = 0; i < 5; ++i) batch_a.events.push_back(prepared("a" + std::to_string(i)));
    batch_a.events.push_back(batch_a.events.front());  // a duplicate in the same batch
    const auto counters = batch_a.counters;
    const std::vector<PreparedEvent> a_events(batch_a.events.begin(), batch_a.events.end() - 1);
    REQUIRE(commit(store, std::move(batch_a)));
    CHECK(counters->accepted == 5);
    CHECK(counters->duplicates == 1);
    CHECK(notified == 1);

    IntakeBatch batch_b;
    batch_b.tool = "beta";
    batch_b.destination = b;
    batch_b.events.push_back(prepared("b0"));
    REQUIRE(commit(store, std::move(batch_b)));
    IntakeBatch local;
    local.tool = "gamma";  // no destination: never sendable
    local.events.push_back(prepared("local"));
    REQUIRE(commit(store, std::move(local)));
    CHECK(notified == 2);
    CHECK(store.queue_events() == 7);

    const auto destinations = store.pending_destinations().value();
    REQUIRE(destinations.size() == 2);
    CHECK(destinations[0] == a);
    CHECK(destinations[1] == b);

    auto first = store.next_batch(a, 3, 1 << 20).value();
    REQUIRE(first.size() == 3);
    CHECK(first[0].id == a_events[0].id);  // oldest first
    CHECK(first[0].event == a_events[0].payload);
    CHECK(store.next_batch(a, 100, 1)->size() == 1);  // at least one even past max_bytes

    REQUIRE(store.remove_delivered({first[0].id, first[1].id}));
    REQUIRE(store.dead_letter({first[2].id}, "rejected: too many attributes"));
    CHECK(store.queue_events() == 4);
    const auto rest = store.next_batch(a, 100, 1 << 20).value();
    REQUIRE(rest.size() == 2);
    CHECK(rest[0].id == a_events[3].id);

    v1::StatusResponse status;
    in_writer(store, [&status](EventStore::Tx& tx) { tx.fill_status(status); });
    CHECK(status.queue_events() == 4);
    REQUIRE(status.tools_size() == 3);
    CHECK(status.tools(0).tool() == "alpha");
    CHECK(status.tools(0).queued() == 2);
    CHECK(status.tools(0).dead_lettered() == 1);
    REQUIRE(status.destinations_size() == 2);
    CHECK(status.destinations(0).endpoint() == "https://a.example");
    CHECK(status.destinations(0).queued() == 2);
    CHECK(status.destinations(0).dead_lettered() == 1);

    // forget queues an erasure for the old id at the tool's destination.
    std::uint64_t deleted = 0;
    in_writer(store, [&](EventStore::Tx& tx) { deleted = tx.forget_tool("alpha", 1, "old-anon-id", a); });
    CHECK(deleted == 3);  // two queued, one dead-lettered
    CHECK(notified == 3);
    const auto erasures = store.pending_erasures().value();
    REQUIRE(erasures.size() == 1);
    CHECK(erasures[0].destination == a);
    CHECK(erasures[0].anonymous_id == "old-anon-id");
    CHECK(store.pending_destinations()->size() == 2);  // a still has an erasure to deliver
    REQUIRE(store.erasure_done(erasures[0].request_id));
    CHECK(store.pending_erasures()->empty());
    CHECK(store.pending_destinations().value() == std::vector<Destination>{b});
    store.stop();
}

TEST_CASE("store: everything submitted before stop() is committed") {
    tk::test::TempDir dir;
    {
        EventStore store(dir / "queue.db", StoreOptions{});
        store.load();
        store.start();
        for (int i = 0; i < 100; ++i) {
            IntakeBatch batch;
            batch.tool = "t";
            batch.events.push_back(prepared("e"));
            store.submit(std::move(batch));
        }
        store.stop();
    }
    EventStore reopened(dir / "queue.db", StoreOptions{});
    CHECK(reopened.queue_events() == 100);
}

TEST_CASE("store: duplicates inside multi-row chunks are counted exactly, bytes too") {
    tk::test::TempDir dir;
    EventStore store(dir / "queue.db", StoreOptions{});
    store.load();
    store.start();
    std::vector<PreparedEvent> events;
    std::int64_t bytes = 0;
    for (int i = 0; i < 70; ++i) {
        events.push_back(prepared(std::string(static_cast<std::size_t>(i), 'x')));  // sizes differ
        bytes += static_cast<std::int64_t>(events.back().payload.size());
    }
    IntakeBatch first;
    first.tool = "t";
    first.counters = std::make_shared<IntakeCounters>();
    first.events = events;
    first.events[40] = events[5];  // a duplicate inside the second chunk of 32
    const auto first_counters = first.counters;
    REQUIRE(commit(store, std::move(first)));
    CHECK(first_counters->accepted == 69);
    CHECK(first_counters->duplicates == 1);
    CHECK(store.queue_bytes() ==
          static_cast<std::uint64_t>(bytes - static_cast<std::int64_t>(events[40].payload.size())));

    IntakeBatch second;  // 64 re-sent (two full chunks) and the one that was missing
    second.tool = "t";
    second.counters = std::make_shared<IntakeCounters>();
    second.events.assign(events.begin(), events.begin() + 64);
    const auto second_counters = second.counters;
    REQUIRE(commit(store, std::move(second)));
    CHECK(second_counters->accepted == 1);
    CHECK(second_counters->duplicates == 63);
    CHECK(store.queue_events() == 70);
    CHECK(store.queue_bytes() == static_cast<std::uint64_t>(bytes));
    store.stop();
}

TEST_CASE("store: batches of one commit are inserted in id order, and of two equal ids the first submitted is kept") {
    tk::test::TempDir dir;
    EventStore store(dir / "queue.db", StoreOptions{});
    store.load();
    // 100 events in id order, dealt out in turn to two clients' batches, so that their rows interleave.
    std::vector<PreparedEvent> events;
    for (int i = 0; i < 100; ++i) events.push_back(prepared(std::string(static_cast<std::size_t>(i % 7), 'x')));
    IntakeBatch first;
    IntakeBatch second;
    first.tool = "a";
    second.tool = "b";
    first.destination = Destination{"https://a.example", "key-a"};
    for (std::size_t i = 0; i < events.size(); ++i) (i % 2 == 0 ? first : second).events.push_back(events[i]);
    PreparedEvent twin = events[10];  // in the first batch; the second repeats its id with other bytes
    twin.payload += "other";
    second.events.push_back(twin);
    first.counters = std::make_shared<IntakeCounters>();
    second.counters = std::make_shared<IntakeCounters>();
    const auto first_counters = first.counters;
    const auto second_counters = second.counters;
    std::atomic<int> committed{0};
    first.on_commit = second.on_commit = [&committed](bool ok) { committed += ok ? 1 : 0; };
    store.submit(std::move(first));  // before start(): both go into the writer's first transaction
    store.submit(std::move(second));
    store.start();
    std::uint64_t bytes = 0;
    for (const auto& event : events) bytes += event.payload.size();
    // And a later commit with an id below the largest queued one: the duplicate path.
    IntakeBatch resend;
    resend.tool = "a";
    resend.counters = std::make_shared<IntakeCounters>();
    resend.events.assign(events.begin() + 40, events.begin() + 80);
    const auto resend_counters = resend.counters;
    REQUIRE(commit(store, std::move(resend)));
    CHECK(committed == 2);
    CHECK(first_counters->accepted == 50);
    CHECK(first_counters->duplicates == 0);
    CHECK(second_counters->accepted == 50);
    CHECK(second_counters->duplicates == 1);
    CHECK(resend_counters->accepted == 0);
    CHECK(resend_counters->duplicates == 40);
    CHECK(store.queue_events() == 100);
    CHECK(store.queue_bytes() == bytes);
    const Destination a{"https://a.example", "key-a"};
    const auto queued = store.next_batch(a, 1000, std::size_t{1} << 20).value();
    REQUIRE(queued.size() == 50);
    CHECK(queued[5].id == events[10].id);
    CHECK(queued[5].event == events[10].payload);  // the first submitted, not its twin
    store.stop();
}

namespace {

/// A started store in a temporary directory with `count` events of tool "t" queued for `destination`
/// (their sizes differ), kept oldest first.
struct QueuedStore {
    explicit QueuedStore(int count) {
        store.load();
        store.start();
        IntakeBatch batch;
        batch.tool = "t";
        batch.destination = destination;
        for (int i = 0; i < count; ++i) {
            batch.events.push_back(prepared(std::string(static_cast<std::size_t>(i % 50), 'x')));
        }
        events = batch.events;
        REQUIRE(commit(store, std::move(batch)));
    }
    ~QueuedStore() { store.stop(); }

    /// Ids still queued, oldest first.
    std::vector<std::string> queued_ids() {
        std::vector<std::string> ids;
        for (const auto& event : store.next_batch(destination, 1'000'000, std::size_t{1} << 30).value()) {
            ids.push_back(event.id);
        }
        return ids;
    }
    v1::StatusResponse status() {
        v1::StatusResponse status;
        in_writer(store, [&status](EventStore::Tx& tx) { tx.fill_status(status); });
        return status;
    }

    tk::test::TempDir dir;
    EventStore store{dir / "queue.db", StoreOptions{}};
    const Destination destination{"https://a.example", "key-a"};
    std::vector<PreparedEvent> events;
};

/// The events' ids split by `take(index)`, and the bytes of those taken.
struct Split {
    std::vector<std::string> taken;
    std::vector<std::string> kept;
    std::uint64_t taken_bytes = 0;
};
template <class Take>
Split split(const std::vector<PreparedEvent>& events, Take take) {
    Split result;
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (take(i)) {
            result.taken.push_back(events[i].id);
            result.taken_bytes += events[i].payload.size();
        } else {
            result.kept.push_back(events[i].id);
        }
    }
    return result;
}

}  // namespace

TEST_CASE("outbox: removing more ids than one statement binds deletes exactly those, counted once") {
    QueuedStore q(1'500);
    REQUIRE(q.store.queue_events() == 1'500);
    const std::uint64_t bytes_before = q.store.queue_bytes();
    // 1,200 of the 1,500 (every fifth one stays): statements of 500, 500 and 200 ids. Plus an id
    // given twice in the call and one that was never queued: neither is counted again.
    const Split ids = split(q.events, [](std::size_t i) { return i % 5 != 4; });
    REQUIRE(ids.taken.size() == 1'200);
    std::vector<std::string> remove = ids.taken;
    remove.insert(remove.begin() + 700, remove[3]);
    remove.push_back(tk::to_bytes(tk::uuid_v7()));

    REQUIRE(q.store.remove_delivered(remove));

    CHECK(q.store.queue_events() == 300);
    CHECK(q.store.queue_bytes() == bytes_before - ids.taken_bytes);
    CHECK(q.queued_ids() == ids.kept);  // the others, still oldest first
    const auto status = q.status();
    CHECK(status.queue_events() == 300);
    REQUIRE(status.tools_size() == 1);
    CHECK(status.tools(0).queued() == 300);
    CHECK(status.tools(0).dead_lettered() == 0);
}

TEST_CASE("outbox: dead-lettering more ids than one statement binds moves exactly those") {
    QueuedStore q(1'300);
    const std::uint64_t bytes_before = q.store.queue_bytes();
    const Split ids = split(q.events, [](std::size_t i) { return i % 13 != 0; });
    REQUIRE(ids.taken.size() == 1'200);

    REQUIRE(q.store.dead_letter(ids.taken, "rejected: schema"));

    CHECK(q.store.queue_events() == 100);
    CHECK(q.store.queue_bytes() == bytes_before - ids.taken_bytes);
    CHECK(q.queued_ids() == ids.kept);
    const auto status = q.status();
    REQUIRE(status.tools_size() == 1);
    CHECK(status.tools(0).queued() == 100);
    CHECK(status.tools(0).dead_lettered() == 1'200);
    REQUIRE(status.destinations_size() == 1);
    CHECK(status.destinations(0).dead_lettered() == 1'200);
}

TEST_CASE("outbox: removing or dead-lettering an empty list of ids changes nothing") {
    QueuedStore q(10);
    const std::uint64_t bytes = q.store.queue_bytes();

    REQUIRE(q.store.remove_delivered({}));
    REQUIRE(q.store.dead_letter({}, "rejected"));

    CHECK(q.store.queue_events() == 10);
    CHECK(q.store.queue_bytes() == bytes);
    CHECK(q.queued_ids().size() == 10);
    const auto status = q.status();
    REQUIRE(status.tools_size() == 1);
    CHECK(status.tools(0).queued() == 10);
    CHECK(status.tools(0).dead_lettered() == 0);

    REQUIRE(q.store.remove_delivered({q.events[0].id}));  // and the outbox still works after them
    CHECK(q.store.queue_events() == 9);
}

namespace {

/// A started store with `options` and `count` events of tool "t" queued for one destination.
struct DeadLetterStore {
    DeadLetterStore(StoreOptions options, int count) : store(dir / "queue.db", options) {
        store.load();
        store.start();
        IntakeBatch batch;
        batch.tool = "t";
        batch.destination = destination;
        for (int i = 0; i < count; ++i) batch.events.push_back(prepared("e"));
        ids.reserve(batch.events.size());
        for (const auto& event : batch.events) ids.push_back(event.id);
        REQUIRE(commit(store, std::move(batch)));
    }
    ~DeadLetterStore() { store.stop(); }
    v1::ToolStatus tool_status() {
        v1::StatusResponse status;
        in_writer(store, [&status](EventStore::Tx& tx) {
            tx.expire();
            tx.fill_status(status);
        });
        for (const auto& tool : status.tools()) {
            if (tool.tool() == "t") return tool;
        }
        FAIL("tool t is not in the status");
        return {};
    }

    tk::test::TempDir dir;
    EventStore store;
    const Destination destination{"https://a.example", "key-a"};
    std::vector<std::string> ids;
};

}  // namespace

TEST_CASE("dead letters are bounded: past max_dead_letters the oldest go") {
    StoreOptions options;
    options.max_dead_letters = 5;
    DeadLetterStore s(options, 8);
    for (const auto& id : s.ids) REQUIRE(s.store.dead_letter({id}, "HTTP 400: bad"));
    CHECK(s.tool_status().dead_lettered() == 5);
    CHECK(s.store.queue_events() == 0);
}

TEST_CASE("dead letters and refused erasures expire") {
    StoreOptions options;
    options.dead_letter_retention = std::chrono::milliseconds(1);
    DeadLetterStore s(options, 3);
    REQUIRE(s.store.dead_letter(s.ids, "HTTP 400: bad"));
    in_writer(s.store, [&](EventStore::Tx& tx) { tx.forget_tool("other", 1, "old-id", s.destination); });
    const auto erasures = s.store.pending_erasures().value();
    REQUIRE(erasures.size() == 1);
    REQUIRE(s.store.erasure_refused(erasures[0].request_id, "erasure refused: HTTP 403"));
    // Both expire once a millisecond has passed since each was written (status expires before it
    // counts). The refusal is written after the dead letters, so wait for each on its own.
    REQUIRE(tk::test::wait_until([&] { return s.tool_status().dead_lettered() == 0; }));
    const auto refused = [&s] {
        v1::StatusResponse status;
        in_writer(s.store, [&status](EventStore::Tx& tx) {
            tx.expire();
            tx.fill_status(status);
        });
        int count = 0;
        for (const auto& tool : status.tools()) count += tool.refused_erasures_size();
        return count;
    };
    CHECK(tk::test::wait_until([&] { return refused() == 0; }));
}

TEST_CASE("a refused erasure leaves the pending ones and is shown with its reason, without the old id") {
    DeadLetterStore s(StoreOptions{}, 1);
    in_writer(s.store, [&](EventStore::Tx& tx) { tx.forget_tool("t", 1, "old-anon-id", s.destination); });
    const auto erasures = s.store.pending_erasures().value();
    REQUIRE(erasures.size() == 1);
    REQUIRE(s.store.erasure_refused(erasures[0].request_id, "erasure refused: HTTP 403: forbidden"));
    CHECK(s.store.pending_erasures()->empty());
    CHECK(s.store.pending_destinations()->empty());  // nothing else queued: the refusal is not work
    const auto tool = s.tool_status();
    REQUIRE(tool.refused_erasures_size() == 1);
    CHECK(tool.refused_erasures(0).endpoint() == "https://a.example");
    CHECK(tool.refused_erasures(0).reason() == "erasure refused: HTTP 403: forbidden");
    CHECK(tool.refused_erasures(0).requested_unix_ms() > 0);
    CHECK(tool.refused_erasures(0).refused_unix_ms() >= tool.refused_erasures(0).requested_unix_ms());
    CHECK(tool.DebugString().find("old-anon-id") == std::string::npos);
}

TEST_CASE("denying consent deletes the tool's dead letters too") {
    DeadLetterStore s(StoreOptions{}, 4);
    REQUIRE(s.store.dead_letter({s.ids[0], s.ids[1]}, "HTTP 400: bad"));
    REQUIRE(s.tool_status().dead_lettered() == 2);
    in_writer(s.store, [](EventStore::Tx& tx) { tx.set_tool_consent("t", v1::CONSENT_DENIED); });
    const auto tool = s.tool_status();
    CHECK(tool.dead_lettered() == 0);
    CHECK(tool.queued() == 0);
}
