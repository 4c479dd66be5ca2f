#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>

#include "support/process.hpp"
#include "tk/common/paths.hpp"

namespace {
tk::EnvLookup env_of(const std::map<std::string, std::string>& vars) {
    return [vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
}
}  // namespace

TEST_CASE("overrides win: TELEMETRY_KIT_SOCKET and TELEMETRY_KIT_HOME") {
    const auto paths = tk::resolve_paths(env_of({{"TELEMETRY_KIT_SOCKET", "/x/agent.sock"},
                                                 {"TELEMETRY_KIT_HOME", "/y"},
                                                 {"XDG_RUNTIME_DIR", "/run/user/1"},
                                                 {"XDG_STATE_HOME", "/s"},
                                                 {"HOME", "/h"}}));
    CHECK(paths.socket == "/x/agent.sock");
    CHECK(paths.state_dir == "/y");
    CHECK(paths.config_dir == "/y");
    CHECK(paths.database() == "/y/queue.db");
    CHECK(paths.spool() == "/y/spool");
}

TEST_CASE("XDG defaults on Linux") {
    const auto paths = tk::resolve_paths(env_of(
        {{"XDG_RUNTIME_DIR", "/run/user/1000"}, {"XDG_STATE_HOME", "/s"}, {"XDG_CONFIG_HOME", "/c"}, {"HOME", "/h"}}));
    CHECK(paths.socket == "/run/user/1000/telemetry-kit/agent.sock");
    CHECK(paths.state_dir == "/s/telemetry-kit");
    CHECK(paths.config_dir == "/c/telemetry-kit");
}

TEST_CASE("without XDG variables: ~/.local/state, ~/.config, and the socket in the state dir, not /tmp") {
    const auto paths = tk::resolve_paths(env_of({{"HOME", "/h"}, {"XDG_RUNTIME_DIR", ""}}));
    // Another user could create /tmp/telemetry-kit-<uid>/ first and stand in for the agent.
    CHECK(paths.socket == "/h/.local/state/telemetry-kit/agent.sock");
    CHECK(paths.state_dir == "/h/.local/state/telemetry-kit");
    CHECK(paths.config_dir == "/h/.config/telemetry-kit");
    const auto home = tk::resolve_paths(env_of({{"TELEMETRY_KIT_HOME", "/y"}}));
    CHECK(home.socket == "/y/agent.sock");
}

TEST_CASE("a state dir too long for sockaddr_un: the socket falls back to a per-uid dir under /tmp") {
    const std::string fits(tk::kMaxSocketPathBytes - 1 - std::string("/agent.sock").size(), 'a');
    CHECK(tk::resolve_paths(env_of({{"TELEMETRY_KIT_HOME", "/" + fits.substr(1)}})).socket ==
          "/" + fits.substr(1) + "/agent.sock");
    const auto long_home = tk::resolve_paths(env_of({{"TELEMETRY_KIT_HOME", "/" + fits}}));
    CHECK(long_home.socket == "/tmp/telemetry-kit-" + std::to_string(getuid()) + "/agent.sock");
}

TEST_CASE("ensure_private_dir creates a 0700 directory and tightens a loose one") {
    tk::test::TempDir dir;
    const auto target = dir / "a" / "b";
    REQUIRE(tk::ensure_private_dir(target).ok());
    struct stat st {};
    REQUIRE(::stat(target.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    ::chmod(target.c_str(), 0755);
    REQUIRE(tk::ensure_private_dir(target).ok());
    REQUIRE(::stat(target.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    const auto file = dir / "file";
    {
        std::FILE* f = std::fopen(file.c_str(), "w");
        std::fclose(f);
    }
    CHECK_FALSE(tk::ensure_private_dir(file).ok());
}
