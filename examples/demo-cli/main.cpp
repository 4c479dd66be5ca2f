// demo-cli: a small tool with subcommands, instrumented with telemetry-kit.
// Each run records one command event (name, duration, success) through a CommandScope.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#include "telemetry_kit/client.hpp"
#include "telemetry_kit/consent.hpp"

namespace {

constexpr const char* kTool = "demo-cli";
constexpr const char* kVersion = "1.0.0";

const char* kTelemetryHelp = R"(
Telemetry (opt-in):
  For each run demo-cli records one event: the subcommand's name, how long it took, whether it
  succeeded, its exit code, demo-cli's version, and for `count` the number N. Never the NAME you
  greet, your user or host name, paths or addresses. Events go to your local telemetry-kit agent
  (or, while it is not running, to a spool file it reads when it starts), which keeps nothing
  until you agree: on the first run in a terminal you are asked once
  (default No; never in CI). The agent forwards to the collector at $DEMO_CLI_ENDPOINT (or
  --telemetry-endpoint); without one, events stay on this machine.
  Turn it off: DO_NOT_TRACK=1, DEMO_CLI_TELEMETRY_DISABLED=1, --no-telemetry, or
  `tk consent deny demo-cli`. See what would be sent: TELEMETRY_KIT_DEBUG=1 demo-cli ...;
  see what is queued: `tk events`.)";

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : fallback;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"demo-cli — a tiny example tool instrumented with telemetry-kit"};
    app.set_version_flag("--version", kVersion);
    app.footer(kTelemetryHelp);
    app.require_subcommand(1);

    std::string endpoint = env_or("DEMO_CLI_ENDPOINT", "");
    std::string ingest_key = env_or("DEMO_CLI_INGEST_KEY", "");
    bool no_telemetry = false;
    app.add_option("--telemetry-endpoint", endpoint, "collector URL (default: $DEMO_CLI_ENDPOINT)");
    app.add_option("--telemetry-key", ingest_key, "collector ingest key (default: $DEMO_CLI_INGEST_KEY)");
    app.add_flag("--no-telemetry", no_telemetry, "record nothing for this run");

    std::string name;
    auto* greet = app.add_subcommand("greet", "print a greeting");
    greet->add_option("NAME", name, "who to greet")->required();
    long long n = 0;
    auto* count = app.add_subcommand("count", "count from 1 to N");
    count->add_option("N", n, "how far to count")->required()->check(CLI::Range(0LL, 1000000LL));
    auto* fail = app.add_subcommand("fail", "fail on purpose (exit code 1), to see a failed command recorded");

    CLI11_PARSE(app, argc, argv);

    telemetry_kit::Config config{kTool, kVersion, endpoint, ingest_key};
    if (!no_telemetry) telemetry_kit::ask_consent_once(config);  // asks only on a terminal, once
    telemetry_kit::Client telemetry(no_telemetry ? telemetry_kit::Config{} : config);

    CLI::App* command = app.get_subcommands().front();
    telemetry_kit::CommandScope scope(telemetry, command->get_name());
    try {
        if (command == greet) {
            std::cout << "Hello, " << name << "!\n";
        } else if (command == count) {
            scope.attribute("n", n);
            for (long long i = 1; i <= n; ++i) std::cout << i << '\n';
        } else if (command == fail) {
            throw std::runtime_error("failing on purpose");
        }
    } catch (const std::exception& error) {
        std::cerr << "demo-cli: " << error.what() << '\n';
        scope.exit_code(1);
        return 1;
    }
    scope.exit_code(0);
    return 0;
}
