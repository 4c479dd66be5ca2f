// The installed package: `cmake --install` the client into a temp prefix, then configure, build
// and run a consumer project that does find_package(telemetry_kit) and links telemetry_kit::client.
#include <catch2/catch.hpp>

#include "client_support.hpp"

using namespace tk::test;
using namespace std::chrono_literals;

namespace {

RunResult must_run(std::vector<std::string> argv, const std::map<std::string, std::string>& env = {}) {
    ProcessOptions options;
    options.argv = std::move(argv);
    options.env = env;
    RunResult result = run(options, 120s);
    INFO(options.argv[0] << " " << (options.argv.size() > 1 ? options.argv[1] : "") << "\n"
                         << result.out << result.err);
    REQUIRE(result.exit_code == 0);
    return result;
}

// True if any file under `dir` contains `needle`.
bool any_file_mentions(const fs::path& dir, const std::string& needle) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file() && read_file(entry.path()).find(needle) != std::string::npos) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("find_package(telemetry_kit) from an installed prefix: build and run a consumer") {
    TempDir root;
    const fs::path prefix = root / "prefix";
    must_run(
        {TK_CMAKE_COMMAND, "--install", TK_INSTALL_BINARY_DIR, "--prefix", prefix.string(), "--component", "client"});

    // Public headers only: nothing generated, nothing internal.
    const fs::path include = prefix / "include" / "telemetry_kit";
    REQUIRE(fs::exists(include / "client.hpp"));
    REQUIRE(fs::exists(include / "telemetry_kit.h"));
    CHECK_FALSE(any_file_mentions(include, ".pb.h"));
    CHECK_FALSE(any_file_mentions(include, "tk/common"));
    CHECK_FALSE(fs::exists(prefix / "include" / "tk"));

    const fs::path build = root / "build";
    must_run({TK_CMAKE_COMMAND, "-S", TK_CONSUMER_SOURCE_DIR, "-B", build.string(), "-G", TK_CMAKE_GENERATOR,
              "-DCMAKE_PREFIX_PATH=" + prefix.string(), "-DCMAKE_BUILD_TYPE=Release"});
    must_run({TK_CMAKE_COMMAND, "--build", build.string()});

    // Debug mode: the consumer prints its events and sends nothing.
    auto env = hermetic_env(root / "run");
    env["TELEMETRY_KIT_DEBUG"] = "1";
    const RunResult cpp = must_run({(build / "consumer").string()}, env);
    CHECK(cpp.err.find(R"("tool":"consumer","tool_version":"1.0.0","kind":"command","name":"build")") !=
          std::string::npos);
    CHECK(cpp.err.find(R"("name":"cache.remote")") != std::string::npos);
    const RunResult c = must_run({(build / "consumer_c").string()}, env);
    CHECK(c.err.find(R"("tool":"consumer-c")") != std::string::npos);
}
