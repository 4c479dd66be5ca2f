#pragma once
// What the forwarder tests with a real agent do first: a tool that names its collector and key,
// and a burst of events the agent acknowledges (so they are committed before the test looks).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "../daemon/agent_client.hpp"
#include "support/process.hpp"

namespace tk::test {

inline telemetry_kit::v1::ToolIdentity identity(const std::string& tool, const std::string& endpoint,
                                                const std::string& key) {
    auto id = tool_identity(tool);  // opt-out tool: kept unless the person denies
    id.set_endpoint(endpoint);
    id.set_ingest_key(key);
    return id;
}

inline void send_events(RunningAgent& agent, const telemetry_kit::v1::ToolIdentity& tool, int n) {
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool));
    for (int i = 0; i < n; ++i) REQUIRE(client.event(make_event("build")));
    const auto ack = client.flush();
    REQUIRE(ack);
    REQUIRE(ack->accepted() == static_cast<std::uint64_t>(n));
}

}  // namespace tk::test
