#include <CLI/CLI.hpp>
#include <iostream>

#include "telemetry_kit/version.hpp"

int main(int argc, char** argv) {
    CLI::App app{"tk — talk to your telemetry-kit agent"};
    app.set_version_flag("--version", std::string(telemetry_kit::version()));
    CLI11_PARSE(app, argc, argv);
    std::cout << app.help();
    return 0;
}
