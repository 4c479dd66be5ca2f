// Issue 15, end to end: a tool's manifest set on the real tk-collector (over a throwaway
// PostgreSQL), fetched by the real tk-agent, enforced before anything is stored. Nothing mocked.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "../collector/http_client.hpp"
#include "../daemon/agent_client.hpp"
#include "support/collector_fixture.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
using namespace tk::test;
namespace v1 = telemetry_kit::v1;
namespace http = boost::beast::http;

namespace {

constexpr const char* kTool = "mtool";
// Markers that must never be written anywhere on the agent's disk or reach the collector.
constexpr const char* kUndeclaredEvent = "deploy-undeclared-7f3a";
constexpr const char* kUndeclaredValue = "secret-marker-91c2";
constexpr const char* kRefusedValue = "customer-acme-55d1";

constexpr const char* kManifestV1 = R"json({
  "tool": "mtool",
  "description": "Which builds people run.",
  "events": [
    {"kind": "command", "name": "build",
     "attributes": {"profile": {"type": "string", "values": ["debug", "release"]}, "jobs": {"type": "int"}}},
    {"kind": "command", "name": "bulk", "sample_rate": 0.1}
  ]
})json";

/// v1 plus the event that v1 leaves out.
constexpr const char* kManifestV2 = R"json({
  "tool": "mtool",
  "events": [
    {"kind": "command", "name": "build",
     "attributes": {"profile": {"type": "string", "values": ["debug", "release"]}, "jobs": {"type": "int"}}},
    {"kind": "command", "name": "bulk", "sample_rate": 0.1},
    {"kind": "command", "name": "deploy-*"}
  ]
})json";

/// v1, required: the tool sends only under it.
constexpr const char* kManifestRequired = R"json({
  "tool": "mtool",
  "required": true,
  "events": [
    {"kind": "command", "name": "build",
     "attributes": {"profile": {"type": "string", "values": ["debug", "release"]}, "jobs": {"type": "int"}}}
  ]
})json";

std::string agent_config() {
    return std::string(kQuickForwarderConfig) + "[manifest]\nrefresh_s = 2\ninitial_backoff_ms = 100\n";
}

void set_manifest(const CollectorFixture& collector, const TempDir& dir, const std::string& json) {
    const auto file = dir / "manifest.json";
    std::ofstream(file) << json;
    const auto result = collector.run_command({"tools", "manifest", "set", kTool, file.string()});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
}

v1::ToolIdentity identity(const CollectorFixture& collector, const std::string& key) {
    auto id = tool_identity(kTool);  // opt-out: kept unless the person denies
    id.set_endpoint(collector.base_url());
    id.set_ingest_key(key);
    return id;
}

v1::ManifestResponse manifest_of(RunningAgent& agent) {
    v1::ControlRequest request;
    request.mutable_manifest()->set_tool(kTool);
    return agent.control(request).manifest();
}

/// Waits until the agent enforces manifest `version` for the tool.
bool manifest_in_force(RunningAgent& agent, unsigned version, std::chrono::milliseconds deadline = 15s) {
    return wait_until(
        [&] {
            const auto answer = manifest_of(agent);
            return answer.known() && answer.manifest().version() == version;
        },
        deadline);
}

v1::Event with_string(v1::Event event, const std::string& key, const std::string& value) {
    (*event.mutable_attributes())[key].set_string_value(value);
    return event;
}

/// Every byte the agent has on disk (its databases and their WAL files), to look for markers.
std::string agent_disk(const RunningAgent& agent) {
    std::string all;
    for (const auto& entry : fs::recursive_directory_iterator(agent.home())) {
        if (entry.is_regular_file()) all += read_file(entry.path());
    }
    return all;
}

/// The setup of most tests here: the collector (over a throwaway PostgreSQL), the tool's ingest
/// key, its manifest (none if null), then the agent.
struct Setup {
    explicit Setup(const char* manifest_json) : key(prepare(collector, dir, manifest_json)), agent(agent_config()) {}

    static std::string prepare(const CollectorFixture& collector, const TempDir& dir, const char* manifest_json) {
        std::string key = collector.create_key(kTool);
        if (manifest_json != nullptr) set_manifest(collector, dir, manifest_json);
        return key;
    }

    CollectorFixture collector;
    TempDir dir;
    std::string key;
    RunningAgent agent;
};

}  // namespace

TEST_CASE("a manifest is enforced before anything is stored, and its change reaches the agent") {
    Setup setup(kManifestV1);
    auto& collector = setup.collector;
    const auto& dir = setup.dir;
    const std::string& key = setup.key;
    auto& agent = setup.agent;

    AgentClient client(agent.socket());
    REQUIRE(client.hello(identity(collector, key)));  // tells the agent where the manifest is
    REQUIRE(manifest_in_force(agent, 1));

    // Declared (one attribute stripped), declared with a refused value, undeclared.
    auto kept = with_string(make_event("build"), "profile", "release");
    (*kept.mutable_attributes())["jobs"].set_int_value(8);
    kept = with_string(kept, "user", kUndeclaredValue);
    const auto refused = with_string(make_event("build"), "profile", kRefusedValue);
    const auto undeclared = make_event(kUndeclaredEvent);
    REQUIRE(client.event(kept));
    REQUIRE(client.event(refused));
    REQUIRE(client.event(undeclared));
    const auto ack = client.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == 2);
    CHECK(ack->dropped() == 1);

    const auto status = agent.status();
    CHECK(dropped(status, kTool, "manifest_undeclared_event") == 1);
    CHECK(dropped(status, kTool, "manifest_undeclared_attribute") == 1);
    CHECK(dropped(status, kTool, "manifest_attribute_value_not_allowed") == 1);
    REQUIRE(find_tool(status, kTool) != nullptr);
    CHECK(find_tool(status, kTool)->manifest_version() == 1);

    // At the collector: the two kept events, as enforced, stamped with the manifest version.
    REQUIRE(wait_until([&] { return collector.count_events("tool = 'mtool'") == 2; }, 15s));
    CHECK(collector.count_events("name = '" + std::string(kUndeclaredEvent) + "'") == 0);
    CHECK(collector.count_events("attributes::text LIKE '%secret-marker%'") == 0);
    CHECK(collector.count_events("attributes::text LIKE '%customer-acme%'") == 0);
    CHECK(collector.count_events("attributes->>'profile' = 'release' AND (attributes->>'jobs')::int = 8") == 1);
    CHECK(collector.count_events("manifest_version = 1 AND sample_rate = 1") == 2);
    // ... and none of the refused bytes was ever written on the agent's disk.
    const std::string disk = agent_disk(agent);
    CHECK(disk.find(kUndeclaredEvent) == std::string::npos);
    CHECK(disk.find(kUndeclaredValue) == std::string::npos);
    CHECK(disk.find(kRefusedValue) == std::string::npos);

    SECTION("tk manifest says it in plain words") {
        const auto result = agent.tk({"manifest", kTool});
        CHECK(result.exit_code == 0);
        CHECK_THAT(result.out, Catch::Contains("the command 'build'"));
        CHECK_THAT(result.out, Catch::Contains("profile (one of debug, release)"));
        CHECK_THAT(result.out, Catch::Contains("only 10% of them"));
    }

    SECTION("a new version reaches the agent within the refresh period") {
        set_manifest(collector, dir, kManifestV2);
        // refresh_s = 2: in force within a few periods (the deadline allows for a loaded machine).
        REQUIRE(manifest_in_force(agent, 2, 20s));
        REQUIRE(client.event(make_event("deploy-prod")));
        const auto after = client.flush();
        REQUIRE(after);
        CHECK(after->accepted() == 3);
        REQUIRE(wait_until([&] { return collector.count_events("name = 'deploy-prod' AND manifest_version = 2") == 1; },
                           15s));
    }

    SECTION("a collector that is down leaves the cached manifest in force, across a restart") {
        collector.stop();
        agent.stop();
        agent.start();
        AgentClient again(agent.socket());
        REQUIRE(again.hello(identity(collector, key)));
        CHECK(manifest_of(agent).known());  // from the agent's SQLite cache at once
        REQUIRE(again.event(make_event(kUndeclaredEvent)));
        REQUIRE(again.event(with_string(make_event("build"), "profile", "debug")));
        const auto offline = again.flush();
        REQUIRE(offline);
        CHECK(offline->accepted() == 1);
        CHECK(offline->dropped() == 1);
        // The refresh fails (nothing listens) and says so; the manifest stays.
        REQUIRE(wait_until([&] { return !manifest_of(agent).fetch_error().empty(); }, 15s));
        const auto answer = manifest_of(agent);
        CHECK(answer.known());
        CHECK(answer.manifest().version() == 1);
    }
}

TEST_CASE("sampling keeps the declared share on a large run and records the rate") {
    Setup setup(kManifestV1);
    auto& collector = setup.collector;
    const std::string& key = setup.key;
    auto& agent = setup.agent;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(identity(collector, key)));
    REQUIRE(manifest_in_force(agent, 1));

    const int n = 20'000;
    const double p = 0.1;
    for (int i = 0; i < n; ++i) REQUIRE(client.event(make_event("bulk")));
    const auto ack = client.flush(30s);
    REQUIRE(ack);
    // Binomial(n, p): within 5 standard deviations (±212 here) but for a chance of about 6e-7.
    const double sigma = std::sqrt(n * p * (1 - p));
    INFO("kept " << ack->accepted() << " of " << n);
    CHECK(std::abs(static_cast<double>(ack->accepted()) - n * p) < 5 * sigma);
    CHECK(ack->accepted() + ack->dropped() == static_cast<std::uint64_t>(n));
    CHECK(dropped(agent.status(), kTool, "manifest_sampled_out") == ack->dropped());
    // Each stored event says it stands for 1/p events, so totals can be scaled.
    REQUIRE(wait_until(
        [&] { return collector.count_events("name = 'bulk'") == static_cast<long long>(ack->accepted()); }, 30s));
    CHECK(collector.count_events("name = 'bulk' AND sample_rate = 0.1") == static_cast<long long>(ack->accepted()));
}

TEST_CASE("the manifest is public: ETag, 304, history, 404, bad files refused with the place") {
    CollectorFixture collector;
    TempDir dir;
    HttpConnection http_client(collector.port());
    auto missing = http_client.request(http::verb::get, "/v1/tools/mtool/manifest");
    CHECK(missing.status == 404);

    set_manifest(collector, dir, kManifestV1);
    set_manifest(collector, dir, kManifestV2);
    // The collector caches what it serves for a few seconds: wait for version 2.
    HttpResponse current;
    REQUIRE(wait_until(
        [&] {
            current = HttpConnection(collector.port()).request(http::verb::get, "/v1/tools/mtool/manifest");
            return current.status == 200 && current.header("etag") == "\"v2\"";
        },
        15s));
    CHECK_THAT(current.header("cache-control"), Catch::Contains("max-age"));
    CHECK_THAT(current.body, Catch::Contains("\"version\": 2"));
    const auto again =
        http_client.request(http::verb::get, "/v1/tools/mtool/manifest", {}, {{"If-None-Match", "\"v2\""}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());

    const auto history = http_client.request(http::verb::get, "/v1/tools/mtool/manifest/history");
    CHECK(history.status == 200);
    CHECK_THAT(history.body, Catch::Contains("\"version\": 2"));
    CHECK_THAT(history.body, Catch::Contains("\"version\": 1"));
    CHECK(http_client.request(http::verb::post, "/v1/tools/mtool/manifest").status == 405);

    // Setting the same manifest again stores nothing; a bad one is refused with where and why.
    CHECK(collector.run_command({"tools", "manifest", "history", kTool}).out.find("2\t") != std::string::npos);
    const auto bad = dir / "bad.json";
    std::ofstream(bad) << R"({"tool": "mtool", "events": [{"name": "x", "sample_rate": 2}]})";
    const auto refused = collector.run_command({"tools", "manifest", "set", kTool, bad.string()});
    CHECK(refused.exit_code != 0);
    CHECK_THAT(refused.err, Catch::Contains("events[0].sample_rate"));
}

namespace {

v1::ToolIdentity requiring(v1::ToolIdentity id) {
    id.set_manifest_required(true);
    return id;
}

std::uint64_t held(RunningAgent& agent) {
    const auto status = agent.status();
    const auto* tool = find_tool(status, kTool);
    return tool == nullptr ? 0 : tool->manifest_held();
}

}  // namespace

TEST_CASE("a tool that requires a manifest: nothing is stored before its collector answers") {
    Setup setup(kManifestRequired);
    auto& collector = setup.collector;
    const std::string& key = setup.key;
    auto& agent = setup.agent;
    collector.stop();  // down before the agent ever asked (it asks at the tool's Hello)
    AgentClient client(agent.socket());
    REQUIRE(client.hello(requiring(identity(collector, key))));
    REQUIRE(client.event(with_string(make_event("build"), "profile", "release")));
    REQUIRE(client.event(make_event(kUndeclaredEvent)));
    const auto ack = client.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == 0);  // held: neither stored nor dropped
    CHECK(ack->dropped() == 0);
    CHECK(held(agent) == 2);
    CHECK_THAT(agent.tk({"status"}).out, Catch::Contains("2 events held in memory"));
    REQUIRE(wait_until([&] { return !manifest_of(agent).fetch_error().empty(); }, 15s));  // it asked, in vain
    CHECK(agent_disk(agent).find(kUndeclaredEvent) == std::string::npos);
    CHECK_THAT(agent.tk({"events", "--json"}).out, !Catch::Contains("build"));

    SECTION("the hold is bounded: past it, events are dropped and counted") {
        for (int i = 0; i < 1000; ++i) REQUIRE(client.event(make_event("build")));
        const auto more = client.flush(30s);
        REQUIRE(more);
        CHECK(more->accepted() == 0);
        CHECK(more->dropped() == 2);
        CHECK(held(agent) == 1000);
        CHECK(dropped(agent.status(), kTool, "manifest_hold_full") == 2);
    }

    SECTION("the collector comes back: the held events are held to the manifest, then stored and sent") {
        collector.start();
        REQUIRE(wait_until([&] { return collector.count_events("tool = 'mtool'") == 1; }, 30s));
        CHECK(collector.count_events("attributes->>'profile' = 'release' AND manifest_version = 1") == 1);
        CHECK(collector.count_events("name = '" + std::string(kUndeclaredEvent) + "'") == 0);
        CHECK(held(agent) == 0);
        CHECK(dropped(agent.status(), kTool, "manifest_undeclared_event") == 1);
        CHECK(agent_disk(agent).find(kUndeclaredEvent) == std::string::npos);
        // From now on the manifest is in force at once.
        REQUIRE(client.event(make_event(kUndeclaredEvent)));
        const auto after = client.flush();
        REQUIRE(after);
        CHECK(after->dropped() == 1);
    }
}

TEST_CASE("a tool that requires a manifest its collector does not publish: its events are dropped") {
    Setup setup(nullptr);
    auto& collector = setup.collector;
    const std::string& key = setup.key;
    auto& agent = setup.agent;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(requiring(identity(collector, key))));
    REQUIRE(client.event(make_event("build")));
    REQUIRE(client.flush());
    // Held until the 404, or dropped at once if it came first: either way counted, never stored.
    REQUIRE(wait_until([&] { return dropped(agent.status(), kTool, "manifest_missing") == 1; }, 15s));
    CHECK(held(agent) == 0);
    REQUIRE(client.event(make_event("build")));
    const auto ack = client.flush();
    REQUIRE(ack);
    CHECK(ack->accepted() == 0);
    CHECK(ack->dropped() >= 1);  // the first one too, if the 404 came before it (else it was held, then dropped)
    CHECK(dropped(agent.status(), kTool, "manifest_missing") == 2);
    CHECK(collector.count_events() == 0);
    CHECK_THAT(agent.tk({"events", "--json"}).out, !Catch::Contains("build"));
}

TEST_CASE("the agent's refresh is conditional: a 304 keeps the cached manifest") {
    Setup setup(kManifestV1);
    auto& collector = setup.collector;
    const std::string& key = setup.key;
    auto& agent = setup.agent;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(identity(collector, key)));
    REQUIRE(manifest_in_force(agent, 1));
    // refresh_s = 2: the next fetch names the cached ETag, and the collector answers 304.
    const auto metrics = [&] { return HttpConnection(collector.port()).request(http::verb::get, "/metrics").body; };
    REQUIRE(wait_until([&] { return metrics().find(R"(route="manifest",status="304")") != std::string::npos; }, 20s));
    const auto answer = manifest_of(agent);
    CHECK(answer.known());
    CHECK(answer.manifest().version() == 1);
    CHECK(answer.fetch_error().empty());
    CHECK(answer.fetched_unix_ms() > 0);
    // Still enforced after the 304.
    REQUIRE(client.event(make_event(kUndeclaredEvent)));
    const auto ack = client.flush();
    REQUIRE(ack);
    CHECK(ack->dropped() == 1);
}
