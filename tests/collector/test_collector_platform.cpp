// The agent's platform facts at the real tk-collector: stored in their own columns, hostile
// values rejected one event at a time, rows from before the facts read as '' (unknown).
#include <catch2/catch.hpp>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

using namespace tk::test;

TEST_CASE("platform facts are stored in their columns and bad ones are rejected with a reason") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    Batch batch;
    Event stamped = make_event("my-cli");
    stamped.set_os("linux");
    stamped.set_os_version("debian 12");
    stamped.set_arch("x86_64");
    stamped.set_agent_version("0.1.0");
    *batch.add_events() = stamped;
    Event unknown = make_event("my-cli");  // an older agent: no facts
    *batch.add_events() = unknown;
    Event tab = make_event("my-cli");
    tab.set_os_version("debian\t12");
    *batch.add_events() = tab;
    Event long_value = make_event("my-cli");
    long_value.set_agent_version(std::string(65, '1'));
    *batch.add_events() = long_value;

    const BatchAck ack = parse_ack(post_batch(collector.port(), key, batch));
    CHECK(ack.accepted_size() == 2);
    REQUIRE(ack.rejected_size() == 2);
    for (const auto& rejected : ack.rejected()) CHECK(rejected.reason().find("agent_version") != std::string::npos);

    const auto row = [&](const Event& event) {
        return collector.query(
            "SELECT os || '|' || os_version || '|' || arch || '|' || agent_version FROM events"
            " WHERE event_id = '" +
            tk::uuid_bytes_to_string(event.id()) + "'");
    };
    CHECK(row(stamped) == "linux|debian 12|x86_64|0.1.0");
    CHECK(row(unknown) == "|||");
    CHECK(collector.query("SELECT count(*) FROM events") == "2");
}
