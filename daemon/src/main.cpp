#include <CLI/CLI.hpp>
#include <iostream>

#include "tk/agent/version.hpp"

int main(int argc, char** argv) {
    CLI::App app{"tk-agent — the per-user telemetry-kit agent"};
    app.set_version_flag("--version", std::string(tk::agent::version()));
    CLI11_PARSE(app, argc, argv);
    std::cout << app.help();
    return 0;
}
