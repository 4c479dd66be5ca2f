// The forwarder's refusals seen by the person: the real tk-agent and tk, the real tk-collector over
// a throwaway PostgreSQL, and for a collector deployment that refuses erasures, a real HAProxy in
// front of it (as an operator might put one) answering DELETE with 403.
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <optional>

#include "../daemon/agent_client.hpp"
#include "support/collector_fixture.hpp"
#include "sending_tool.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

/// HAProxy in front of the collector: passes everything through but answers DELETE itself with 403.
class RefusingProxy {
public:
    explicit RefusingProxy(unsigned short collector_port) {
        constexpr const char* kHaproxy = "/usr/sbin/haproxy";
        if (::access(kHaproxy, X_OK) != 0) FAIL("haproxy not found: apt-get install haproxy (scripts/install-deps.sh)");
        port_ = free_tcp_port();
        const auto config = dir_ / "haproxy.cfg";
        std::ofstream(config) << "global\n  maxconn 64\n"
                                 "defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n"
                                 "  timeout server 30s\n"
                                 "frontend ingest\n  bind 127.0.0.1:"
                              << port_
                              << "\n"
                                 "  http-request deny deny_status 403 if METH_DELETE\n"
                                 "  default_backend collector\n"
                                 "backend collector\n  server c1 127.0.0.1:"
                              << collector_port << "\n";
        ProcessOptions options;
        options.argv = {kHaproxy, "-db", "-f", config.string()};
        options.stdout_file = dir_ / "haproxy.out";
        options.stderr_file = dir_ / "haproxy.err";
        process_.emplace(options);
        REQUIRE(wait_for_tcp_port(port_));
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    TempDir dir_;
    unsigned short port_ = 0;
    std::optional<ChildProcess> process_;
};

}  // namespace

TEST_CASE("agent: a refused erasure is shown in tk status in words, and the tool's batches still arrive") {
    CollectorFixture collector;
    const std::string key = collector.create_key("demo");
    RefusingProxy proxy(collector.port());
    RunningAgent agent(kQuickForwarderConfig);
    const auto tool = identity("demo", proxy.url(), key);
    send_events(agent, tool, 4);
    REQUIRE(wait_until([&] { return collector.count_events() == 4; }));

    REQUIRE(agent.tk({"forget", "demo"}).exit_code == 0);  // DELETE: the proxy answers 403
    send_events(agent, tool, 6);                           // and batches keep going through it
    REQUIRE(wait_until([&] { return collector.count_events() == 10; }));
    REQUIRE(wait_until([&] {
        const auto* t = find_tool(agent.status(), "demo");
        return t != nullptr && t->refused_erasures_size() == 1;
    }));
    const auto status = agent.status();
    const auto& refused = find_tool(status, "demo")->refused_erasures(0);
    CHECK(refused.reason().rfind("erasure refused: HTTP 403", 0) == 0);
    CHECK(refused.endpoint() == proxy.url());
    CHECK(status.queue_events() == 0);

    const auto shown = agent.tk({"status"});
    CHECK(shown.exit_code == 0);
    CHECK(shown.out.find("demo: the collector at " + proxy.url() + " refused to delete what it holds") !=
          std::string::npos);
    CHECK(shown.out.find("HTTP 403") != std::string::npos);
    CHECK(shown.out.find("It may still have that data") != std::string::npos);
    CHECK(shown.out.find(key) == std::string::npos);
}

TEST_CASE("agent: dead letters are bounded, expire, and go with the tool's consent") {
    CollectorFixture collector;
    collector.create_key("demo");
    SECTION("bounded: only the newest max_dead_letters are kept") {
        RunningAgent agent(std::string(kQuickForwarderConfig) + "[queue]\nmax_dead_letters = 3\n");
        send_events(agent, identity("demo", collector.base_url(), "tk_wrong_key"), 7);  // 401: dead letters
        REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }));
        CHECK(agent.dead_letter_rows() == 3);
        CHECK(find_tool(agent.status(), "demo")->dead_lettered() == 3);
    }
    SECTION("expire: with a retention of 0 hours none are kept past the next look") {
        RunningAgent agent(std::string(kQuickForwarderConfig) + "[queue]\ndead_letter_retention_hours = 0\n");
        send_events(agent, identity("demo", collector.base_url(), "tk_wrong_key"), 5);
        REQUIRE(wait_until([&] { return agent.status().queue_events() == 0; }));
        REQUIRE(wait_until([&] { return find_tool(agent.status(), "demo")->dead_lettered() == 0; }));
        CHECK(agent.dead_letter_rows() == 0);
    }
    SECTION("tk consent deny deletes the tool's dead letters") {
        RunningAgent agent(kQuickForwarderConfig);
        send_events(agent, identity("demo", collector.base_url(), "tk_wrong_key"), 5);
        send_events(agent, identity("other", collector.base_url(), "tk_wrong_key"), 2);
        REQUIRE(wait_until([&] { return agent.dead_letter_rows() == 7; }));
        REQUIRE(agent.tk({"consent", "deny", "demo"}).exit_code == 0);
        CHECK(agent.dead_letter_rows() == 2);  // the other tool's stay
        CHECK(find_tool(agent.status(), "demo")->dead_lettered() == 0);
        CHECK(find_tool(agent.status(), "other")->dead_lettered() == 2);
    }
}
