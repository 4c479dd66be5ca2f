// The C++ client's conformance tool (tests/conformance/SCENARIOS.md, "The conformance tool"):
// `conformance_cpp_tool <scenario>` records the scenario's events with the public client API and
// prints one JSON line with the client's stats.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "telemetry_kit/client.hpp"

namespace {

using namespace std::chrono_literals;
using telemetry_kit::Client;

const char* mode_name(telemetry_kit::Mode mode) {
    switch (mode) {
        case telemetry_kit::Mode::sending: return "sending";
        case telemetry_kit::Mode::debug: return "debug";
        default: return "disabled";
    }
}

void record_four_events(Client& client) {
    client
        .track_command("build", {{"target", "release"},
                                 {"jobs", 8},
                                 {"ratio", 0.25},
                                 {"cached", true},
                                 {"empty", ""},
                                 {"negative", -42},
                                 {"big", std::int64_t{1} << 40}})
        .success(true)
        .duration_us(1500)
        .exit_code(0);
    client.track_command("test").success(false).duration_us(250000).exit_code(3);
    client.track_feature("cache.remote", {{"hit", false}, {"zero", 0}});
    client.track("custom.thing", {{"text", "h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC"}, {"pi", 3.5}});
}

bool known(const std::string& scenario) {
    for (const char* name : {"fields", "do_not_track", "tool_disabled", "do_not_track_zero", "debug", "spool_import",
                             "agent_stalled", "impostor_socket", "ci_tagged", "ci_dropped", "thousand_events"}) {
        if (scenario == name) return true;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 || !known(argv[1])) {
        std::fprintf(stderr, "usage: conformance_cpp_tool <scenario> (see tests/conformance/SCENARIOS.md)\n");
        return 2;
    }
    const std::string scenario = argv[1];
    telemetry_kit::Config config{"conformance", "1.0.0", "http://127.0.0.1:9", "conformance-key"};
    config.consent_mode = telemetry_kit::ConsentMode::opt_out;
    config.local_only = true;
    config.allow_ci = scenario == "ci_tagged";

    Client client(config);
    std::optional<bool> flushed;
    if (scenario == "thousand_events") {
        for (int i = 0; i < 1000; ++i) client.track_feature("bulk", {{"i", i}});
        flushed = client.flush(10s);
    } else {
        record_four_events(client);
        if (scenario != "agent_stalled") flushed = client.flush(5s);
    }
    const telemetry_kit::Stats stats = client.stats();
    // The last statement's time: the harness measures the client's exit delay from here.
    const long long finished_unix_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    std::printf(
        "{\"client\":\"cpp\",\"scenario\":\"%s\",\"mode\":\"%s\",\"tracked\":%llu,\"delivered\":%llu,"
        "\"spooled\":%llu,\"dropped\":%llu,\"suppressed\":%llu,\"flushed\":%s,\"finished_unix_us\":%lld}\n",
        scenario.c_str(), mode_name(client.mode()), static_cast<unsigned long long>(stats.tracked),
        static_cast<unsigned long long>(stats.delivered), static_cast<unsigned long long>(stats.spooled),
        static_cast<unsigned long long>(stats.dropped), static_cast<unsigned long long>(stats.suppressed),
        flushed ? (*flushed ? "true" : "false") : "null", finished_unix_us);
    std::fflush(stdout);
    return 0;
}
