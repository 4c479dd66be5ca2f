// chaos-client: one of the chaos run's client processes, the real client library in its own
// process. It sends up to EVENTS events of TOOL, each with the attributes {client: INDEX, seq: i},
// but only as many as the gate file allows (the test raises the number between its faults, so the
// faults happen while the clients are sending). At the end it flushes and prints one line:
//   tracked=N delivered=N spooled=N dropped=N reconnects=N flushed=0|1
// The test counts every event not reported as dropped, and looks for it in PostgreSQL.
//
// usage: chaos-client TOOL ENDPOINT KEY INDEX EVENTS GATE_FILE
// exit: 0 sent everything, 2 the gate stayed shut past its deadline, 64 bad arguments.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "telemetry_kit/client.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The test's whole run is bounded by ctest; this only stops a client orphaned by a failed test.
constexpr auto kGateDeadline = 120s;
constexpr auto kFlushDeadline = 60s;

/// The number of events the gate file allows so far (0 while it does not exist or is torn: the
/// test replaces it with rename(), so a reader sees the old or the new number).
long long allowed(const std::string& gate) {
    std::ifstream in(gate);
    long long n = 0;
    return in >> n ? n : 0;
}

/// Waits (polling the file, with a deadline) until event `seq` may be sent.
bool wait_for_gate(const std::string& gate, long long seq) {
    const auto end = Clock::now() + kGateDeadline;
    while (seq >= allowed(gate)) {
        if (Clock::now() >= end) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::cerr << "usage: chaos-client TOOL ENDPOINT KEY INDEX EVENTS GATE_FILE\n";
        return 64;
    }
    telemetry_kit::Config config{argv[1], "1.0.0", argv[2], argv[3]};
    config.consent_mode = telemetry_kit::ConsentMode::opt_out;
    const long long index = std::atoll(argv[4]);
    const long long events = std::atoll(argv[5]);
    const std::string gate = argv[6];

    telemetry_kit::Client client(config);
    int code = 0;
    for (long long seq = 0; seq < events; ++seq) {
        if (!wait_for_gate(gate, seq)) {
            code = 2;
            break;
        }
        client.track("chaos", {{"client", index}, {"seq", seq}});
        // Pacing, not synchronisation: spread a phase over some time, so the test's faults land
        // while events are still arriving.
        std::this_thread::sleep_for(1ms);
    }
    const bool flushed = client.flush(kFlushDeadline);
    const auto stats = client.stats();
    std::printf("tracked=%llu delivered=%llu spooled=%llu dropped=%llu reconnects=%llu flushed=%d\n",
                static_cast<unsigned long long>(stats.tracked), static_cast<unsigned long long>(stats.delivered),
                static_cast<unsigned long long>(stats.spooled), static_cast<unsigned long long>(stats.dropped),
                static_cast<unsigned long long>(stats.reconnects), flushed ? 1 : 0);
    std::fflush(stdout);
    return code;
}
