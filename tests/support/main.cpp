// Catch2's main for every test binary. Before any test runs, the process environment is made
// hermetic: no opt-out signal or CI marker of the machine running the tests leaks in (CI sets
// CI=true), and HOME/XDG point into a temp dir so nothing touches the real home directory.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "tk/common/ci.hpp"

extern char** environ;

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> to_unset;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string name(*e, std::strcspn(*e, "="));
        const std::string suffix = "_TELEMETRY_DISABLED";
        if (name == "DO_NOT_TRACK" || name == "TELEMETRY_KIT_DEBUG" ||
            (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)) {
            to_unset.push_back(name);
        }
    }
    for (const char* ci : tk::kCiVariables) to_unset.emplace_back(ci);
    for (const auto& name : to_unset) ::unsetenv(name.c_str());

    tk::test::TempDir home("tk-test-home-");
    for (const auto& [name, value] : tk::test::hermetic_env(home.path())) ::setenv(name.c_str(), value.c_str(), 1);

    return Catch::Session().run(argc, argv);
}
