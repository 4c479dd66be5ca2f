// A tool that tracks one command and exits (`telemetry`), or the same tool without it (`none`).
#include <cstring>

#include "telemetry_kit/client.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "telemetry") == 0) {
        telemetry_kit::Client telemetry({"bench-tool", "1.0.0"});
        telemetry.track_command("build", {{"target", "release"}}).success(true).duration_us(1200);
    }
    return 0;
}
