#include <telemetry_kit/telemetry_kit.hpp>

int main() {
    telemetry_kit::Client telemetry({"consumer", "1.0.0", "https://telemetry.example.com", "key"});
    telemetry.track_command("build", {{"target", "release"}}).success(true);
    telemetry.track_feature("cache.remote");
    return telemetry.flush(std::chrono::seconds(2)) ? 0 : 1;
}
