// The C ABI from a program compiled as C (c_api_smoke.c), run as its own process.
#include <catch2/catch.hpp>

#include "client_support.hpp"

using namespace tk::test;
using namespace std::chrono_literals;

namespace {
ProcessOptions smoke(const fs::path& root) {
    ProcessOptions options;
    options.argv = {TK_C_API_SMOKE};
    options.env = hermetic_env(root);
    return options;
}
}  // namespace

TEST_CASE("C ABI: events recorded from C reach the spool with their fields") {
    TempDir root;
    const auto options = smoke(root.path());
    const RunResult result = run(options, 20s);
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("sending=1 flushed=1 tracked=3") != std::string::npos);
    const auto records = read_spool(fs::path(options.env.at("TELEMETRY_KIT_HOME")) / "spool");
    REQUIRE(records.size() == 3);
    CHECK(records[0].tool().tool() == "c-tool");
    CHECK(records[0].tool().ingest_key() == "key-c");
    const auto& build = records[0].event();
    CHECK(build.name() == "build");
    CHECK(build.success());
    CHECK(build.duration_us() == 1234);
    CHECK(build.attributes().at("target").string_value() == "release");
    CHECK(build.attributes().at("jobs").int_value() == 8);
    CHECK(build.attributes().at("ratio").double_value() == 0.5);
    CHECK(build.attributes().at("cached").bool_value());
    CHECK(records[1].event().exit_code() == 2);
    CHECK_FALSE(records[1].event().success());
    CHECK_FALSE(records[1].event().has_duration_us());
    CHECK(records[2].event().kind() == telemetry_kit::v1::EVENT_KIND_FEATURE);
}

TEST_CASE("C ABI: DO_NOT_TRACK from C sends nothing") {
    TempDir root;
    auto options = smoke(root.path());
    options.env["DO_NOT_TRACK"] = "1";
    const RunResult result = run(options, 20s);
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out.find("sending=0 flushed=1 tracked=3 delivered=0 spooled=0 dropped=0 suppressed=3") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(fs::path(options.env.at("TELEMETRY_KIT_HOME")) / "spool"));
}
