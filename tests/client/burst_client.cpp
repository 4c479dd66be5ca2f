// A tool that records a burst of events as fast as it can, then waits until they are durable:
// one process of test_client_spool's "4 processes x 8,000 events with the agent up".
//   burst_client TOOL PROCESS_INDEX EVENTS
// Prints: tracked=N delivered=N spooled=N dropped=N flushed=0|1
#include <cstdio>
#include <cstdlib>

#include "telemetry_kit/client.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: burst_client TOOL PROCESS_INDEX EVENTS\n");
        return 2;
    }
    const int process = std::atoi(argv[2]);
    const int events = std::atoi(argv[3]);
    telemetry_kit::Client client(telemetry_kit::Config{argv[1], "1.0"});
    for (int i = 0; i < events; ++i) client.track_feature("burst", {{"p", process}, {"i", i}});
    const bool flushed = client.flush(std::chrono::seconds(60));
    const auto stats = client.stats();
    std::printf("tracked=%llu delivered=%llu spooled=%llu dropped=%llu flushed=%d\n",
                static_cast<unsigned long long>(stats.tracked), static_cast<unsigned long long>(stats.delivered),
                static_cast<unsigned long long>(stats.spooled), static_cast<unsigned long long>(stats.dropped),
                flushed ? 1 : 0);
    return flushed ? 0 : 1;
}
