#include <CLI/CLI.hpp>
#include <iostream>

#include "tk/collector/version.hpp"

int main(int argc, char** argv) {
    CLI::App app{"tk-collector — the telemetry-kit collector"};
    app.set_version_flag("--version", std::string(tk::collector::version()));
    CLI11_PARSE(app, argc, argv);
    std::cout << app.help();
    return 0;
}
