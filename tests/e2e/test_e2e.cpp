// End to end: the example tool (demo-cli) and raw clients -> the real tk-agent -> the real
// tk-collector -> a throwaway PostgreSQL. Nothing is mocked.
#include <pwd.h>
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <set>
#include <thread>

#include "../daemon/agent_client.hpp"
#include "support/collector_fixture.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

v1::ToolIdentity identity(const std::string& tool, const CollectorFixture& collector, const std::string& key) {
    auto id = tool_identity(tool);  // opt-out tool: kept unless the person denies
    id.set_endpoint(collector.base_url());
    id.set_ingest_key(key);
    return id;
}

/// Sends `n` events of `tool` on one connection and waits for the agent's flush ack.
std::set<std::string> send_events(RunningAgent& agent, const v1::ToolIdentity& tool, int n,
                                  const std::string& name = "build") {
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool));
    std::set<std::string> ids;
    for (int i = 0; i < n; ++i) {
        auto event = make_event(name);
        ids.insert(event.id());
        REQUIRE(client.event(event));
    }
    const auto ack = client.flush();
    REQUIRE(ack);
    REQUIRE(ack->accepted() == static_cast<std::uint64_t>(n));
    return ids;
}

const v1::DestinationStatus* destination(const v1::StatusResponse& status, const std::string& endpoint) {
    for (const auto& d : status.destinations()) {
        if (d.endpoint() == endpoint) return &d;
    }
    return nullptr;
}

RunResult demo_cli(RunningAgent& agent, const CollectorFixture& collector, const std::string& key,
                   std::vector<std::string> args) {
    ProcessOptions options;
    options.argv = {binary("demo-cli").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = agent.env();
    options.env["DEMO_CLI_ENDPOINT"] = collector.base_url();
    options.env["DEMO_CLI_INGEST_KEY"] = key;
    return run(options, 10s);
}

/// Rows of the agent's dead-letter table: reason per event.
std::vector<std::string> dead_letter_reasons(const RunningAgent& agent) {
    std::vector<std::string> reasons;
    sqlite3* db = nullptr;
    const auto file = agent.home() / "queue.db";
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT reason FROM dead_letters", -1, &statement, nullptr) == SQLITE_OK) {
            while (sqlite3_step(statement) == SQLITE_ROW) {
                reasons.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
            }
        }
        sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    return reasons;
}

}  // namespace

TEST_CASE("demo-cli's events reach PostgreSQL with the right fields, the tool's anonymous id, nothing of the host") {
    CollectorFixture collector;
    const std::string key = collector.create_key("demo-cli");
    RunningAgent agent(kQuickForwarderConfig);
    agent.control(consent_request(v1::ConsentRequest::ACTION_GRANT, "demo-cli"));

    // The name demo-cli greets is the person's user name: it must not travel (demo-cli never records it).
    const char* user = ::getpwuid(::getuid()) ? ::getpwuid(::getuid())->pw_name : "root";
    CHECK(demo_cli(agent, collector, key, {"count", "3"}).exit_code == 0);
    CHECK(demo_cli(agent, collector, key, {"greet", user}).exit_code == 0);
    CHECK(demo_cli(agent, collector, key, {"fail"}).exit_code == 1);

    // A second tool, sending attributes full of host details, to check scrubbing and unlinkability.
    const std::string other_key = collector.create_key("other-tool");
    const std::string home = agent.env().at("HOME");
    char hostname[256] = {};
    ::gethostname(hostname, sizeof hostname - 1);
    {
        AgentClient client(agent.socket());
        REQUIRE(client.hello(identity("other-tool", collector, other_key)));
        auto event = make_event("open");
        (*event.mutable_attributes())["file"].set_string_value(home + "/projects/secret/notes.txt");
        (*event.mutable_attributes())["owner"].set_string_value(std::string("file owned by ") + user);
        (*event.mutable_attributes())["mail"].set_string_value("write to someone@example.com");
        (*event.mutable_attributes())["peer"].set_string_value("connected to 192.168.17.42");
        REQUIRE(client.event(event));
        REQUIRE(client.flush());
    }

    REQUIRE(wait_until([&] { return collector.count_events() == 4; }));
    const std::string rows = collector.query(
        "SELECT name || '|' || tool || '|' || tool_version || '|' || kind || '|' || coalesce(success::text, '-') || "
        "'|' ||"
        " coalesce(exit_code::text, '-') || '|' || (duration_us IS NOT NULL) || '|' || attributes::text"
        " FROM events WHERE tool = 'demo-cli' ORDER BY name");
    CHECK(rows ==
          "count|demo-cli|1.0.0|1|true|0|true|{\"n\": 3}\n"
          "fail|demo-cli|1.0.0|1|false|1|true|{}\n"
          "greet|demo-cli|1.0.0|1|true|0|true|{}");

    // One anonymous id for all of demo-cli's rows, another for the other tool; both 32 hex digits.
    const std::string demo_ids = collector.query("SELECT DISTINCT anonymous_id FROM events WHERE tool = 'demo-cli'");
    const std::string other_ids = collector.query("SELECT DISTINCT anonymous_id FROM events WHERE tool = 'other-tool'");
    CHECK(demo_ids.size() == 32);
    CHECK(other_ids.size() == 32);
    CHECK(demo_ids.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(demo_ids != other_ids);

    // Nothing identifying the host anywhere in any stored row.
    const std::string everything = collector.query("SELECT row_to_json(e)::text FROM events e");
    INFO(everything);
    CHECK(everything.find(hostname) == std::string::npos);
    CHECK(everything.find(home) == std::string::npos);
    CHECK(everything.find("/projects/secret/notes.txt") != std::string::npos);  // kept, with ~ for the home
    CHECK(everything.find("someone@example.com") == std::string::npos);
    CHECK(everything.find("192.168.17.42") == std::string::npos);
    CHECK(everything.find(std::string("owned by ") + user) == std::string::npos);
    CHECK(everything.find("received_at") != std::string::npos);
    CHECK(collector.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' AND "
                          "column_name ~ '(ip|addr|host|user)'") == "0");
}

TEST_CASE("collector down for a while: the agent's queue holds, then drains, every event stored once") {
    CollectorFixture collector;
    const std::string key = collector.create_key("demo");
    RunningAgent agent(kQuickForwarderConfig);
    const auto tool = identity("demo", collector, key);
    collector.stop();

    std::set<std::string> ids = send_events(agent, tool, 300);
    REQUIRE(wait_until([&] {
        const auto now = agent.status();
        const auto* d = destination(now, collector.base_url());
        return d != nullptr && d->next_retry_unix_ms() > 0 && !d->last_error().empty();
    }));
    auto status = agent.status();
    CHECK(status.queue_events() == 300);
    CHECK(destination(status, collector.base_url())->queued() == 300);

    // More events while it is down; then it comes back.
    for (const auto& id : send_events(agent, tool, 200)) ids.insert(id);
    collector.start();
    REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }, 15s));
    CHECK(collector.count_events() == 500);
    CHECK(collector.query("SELECT count(DISTINCT event_id) FROM events") == "500");
    status = agent.status();
    const auto* d = destination(status, collector.base_url());
    REQUIRE(d != nullptr);
    CHECK(d->sent() == 500);
    CHECK(d->dead_lettered() == 0);
    CHECK(d->last_success_unix_ms() > 0);
}

TEST_CASE("PostgreSQL restarted mid-ingest: no loss, no duplicates") {
    CollectorFixture collector;
    const std::string key = collector.create_key("demo");
    RunningAgent agent(kQuickForwarderConfig);
    const auto tool = identity("demo", collector, key);

    std::atomic<bool> done{false};
    std::atomic<int> sent{0};
    std::thread producer([&] {
        for (int round = 0; round < 40; ++round) {
            AgentClient client(agent.socket());
            if (!client.hello(tool)) break;
            for (int i = 0; i < 50; ++i) client.event(make_event("build"));
            if (auto ack = client.flush(); ack) sent += static_cast<int>(ack->accepted());
            std::this_thread::sleep_for(10ms);  // pacing the producer, not synchronisation
        }
        done = true;
    });
    REQUIRE(wait_until([&] { return collector.count_events() > 0; }));
    // A restart in the middle of batches ("fast": in-flight transactions are aborted). Not
    // "immediate": the test cluster runs with synchronous_commit=off, so a crash there may lose
    // commits PostgreSQL already reported, which no client could notice.
    collector.postgres().stop("fast");
    REQUIRE(wait_until([&] {
        const auto now = agent.status();
        const auto* d = destination(now, collector.base_url());
        return d != nullptr && d->last_error().find("HTTP 503") != std::string::npos;
    }));
    collector.postgres().start();
    producer.join();
    CHECK(sent == 2000);
    REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }, 20s));
    CHECK(collector.count_events() == 2000);
    CHECK(collector.query("SELECT count(DISTINCT event_id) FROM events") == "2000");
    CHECK(agent.status().destinations(0).dead_lettered() == 0);
}

TEST_CASE("a batch the collector refuses (401) lands in the dead-letter table and shows in tk status") {
    CollectorFixture collector;
    collector.create_key("demo");
    RunningAgent agent(kQuickForwarderConfig);
    send_events(agent, identity("demo", collector, "tk_wrong_key"), 7);

    REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }));
    const auto reasons = dead_letter_reasons(agent);
    REQUIRE(reasons.size() == 7);
    for (const auto& reason : reasons) CHECK(reason.rfind("HTTP 401", 0) == 0);
    const auto status = agent.status();
    const auto* d = destination(status, collector.base_url());
    REQUIRE(d != nullptr);
    CHECK(d->dead_lettered() == 7);
    CHECK(d->last_error().rfind("HTTP 401", 0) == 0);
    CHECK(collector.count_events() == 0);

    const auto shown = agent.tk({"status"});
    CHECK(shown.exit_code == 0);
    CHECK(shown.out.find("HTTP 401") != std::string::npos);
    CHECK(shown.out.find("tk_wrong_key") == std::string::npos);  // the key is never shown
    const auto json = agent.tk({"status", "--json"});
    CHECK(json.out.find("\"dead_lettered\"") != std::string::npos);
}

TEST_CASE("tk forget: the collector erases the old anonymous id's rows: new events carry a new id") {
    CollectorFixture collector;
    const std::string key = collector.create_key("demo");
    RunningAgent agent(kQuickForwarderConfig);
    const auto tool = identity("demo", collector, key);
    send_events(agent, tool, 10);
    REQUIRE(wait_until([&] { return collector.count_events() == 10; }));
    const std::string old_id = collector.query("SELECT DISTINCT anonymous_id FROM events");
    REQUIRE(old_id.size() == 32);

    const auto forgot = agent.tk({"forget", "demo"});
    CHECK(forgot.exit_code == 0);
    REQUIRE(wait_until([&] { return collector.count_events() == 0; }));

    send_events(agent, tool, 3);
    REQUIRE(wait_until([&] { return collector.count_events() == 3; }));
    const std::string new_id = collector.query("SELECT DISTINCT anonymous_id FROM events");
    CHECK(new_id.size() == 32);
    CHECK(new_id != old_id);
}

TEST_CASE("TLS end to end: the agent trusts a self-signed collector through ca_file in agent.conf") {
    TempDir certs;
    const auto cert = certs / "cert.pem";
    const auto key_file = certs / "key.pem";
    ProcessOptions openssl;
    openssl.argv = {"/usr/bin/openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    key_file.string(),
                    "-out",
                    cert.string(),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1"};
    REQUIRE(run(openssl).exit_code == 0);
    CollectorFixture collector({"--tls-cert", cert.string(), "--tls-key", key_file.string()});
    REQUIRE(collector.base_url().rfind("https://", 0) == 0);
    const std::string key = collector.create_key("demo");

    RunningAgent agent(std::string(kQuickForwarderConfig) + "ca_file = " + cert.string() + "\n");
    send_events(agent, identity("demo", collector, key), 5);
    REQUIRE(wait_until([&] { return collector.count_events() == 5; }));
    REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }));
}
