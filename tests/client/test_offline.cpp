// The client without an agent: the spool, the opt-out switches, debug mode, the scope helper.
// Everything here goes through the installed API (the shared library), as a tool would.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "client_support.hpp"
#include "telemetry_kit/client.hpp"

using namespace tk::test;
using namespace std::chrono_literals;
using telemetry_kit::Client;
using telemetry_kit::Mode;

namespace {

telemetry_kit::Config demo_config() { return {"my-cli", "1.2.0", "https://telemetry.example.com", "key-1"}; }

// Captures what this process writes to stderr while alive.
class StderrCapture {
public:
    explicit StderrCapture(const fs::path& file) : file_(file) {
        saved_ = ::dup(STDERR_FILENO);
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    }
    ~StderrCapture() { restore(); }
    std::string text() {
        restore();
        return read_file(file_);
    }

private:
    void restore() {
        if (saved_ < 0) return;
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        saved_ = -1;
    }
    fs::path file_;
    int saved_ = -1;
};

}  // namespace

TEST_CASE("agent absent: events go to the spool, whole and with the tool's identity") {
    ClientHome env;
    {
        Client client(demo_config());
        REQUIRE(client.mode() == Mode::sending);
        client.track_command("build", {{"target", "release"}, {"jobs", 4}}).success(true).duration(1500us);
        client.track_feature("cache.remote");
        REQUIRE(client.flush(2s));
        client.track("custom.thing");  // not flushed: the destructor spools it
        CHECK(client.stats().spooled >= 2);
    }
    const auto records = read_spool(env.spool());
    REQUIRE(records.size() == 3);
    CHECK(records[0].tool().tool() == "my-cli");
    CHECK(records[0].tool().version() == "1.2.0");
    CHECK(records[0].tool().endpoint() == "https://telemetry.example.com");
    CHECK(records[0].tool().ingest_key() == "key-1");
    const auto& build = records[0].event();
    CHECK(build.name() == "build");
    CHECK(build.kind() == telemetry_kit::v1::EVENT_KIND_COMMAND);
    CHECK(build.tool() == "my-cli");
    CHECK(build.id().size() == 16);
    CHECK(build.success());
    CHECK(build.duration_us() == 1500);
    CHECK(build.attributes().at("target").string_value() == "release");
    CHECK(build.attributes().at("jobs").int_value() == 4);
    CHECK(build.anonymous_id().empty());
    CHECK(records[1].event().kind() == telemetry_kit::v1::EVENT_KIND_FEATURE);
    CHECK(records[2].event().kind() == telemetry_kit::v1::EVENT_KIND_CUSTOM);
    CHECK(records[0].event().id() != records[1].event().id());
    CHECK(fs::status(env.spool()).permissions() == (fs::perms::owner_read | fs::perms::owner_write));
}

TEST_CASE("the spool is reopened per write, so the agent's rename never swallows later events") {
    ClientHome env;
    Client client(demo_config());
    client.track_command("first");
    REQUIRE(client.flush(2s));
    fs::rename(env.spool(), env.home / "spool.importing");  // what the agent does on start
    client.track_command("second");
    REQUIRE(client.flush(2s));
    const auto fresh = read_spool(env.spool());
    REQUIRE(fresh.size() == 1);
    CHECK(fresh[0].event().name() == "second");
    CHECK(read_spool(env.home / "spool.importing").size() == 1);
}

TEST_CASE("the opt-out signals passed along are the raw environment values") {
    ClientHome env;
    ScopedEnv dnt("DO_NOT_TRACK", "0");  // set, but not an opt-out: the agent sees the raw value
    ScopedEnv ci("GITHUB_ACTIONS", "true");
    {
        Client client(demo_config());
        REQUIRE(client.mode() == Mode::sending);
        client.track_command("build");
    }
    const auto records = read_spool(env.spool());
    REQUIRE(records.size() == 1);
    CHECK(records[0].signals().do_not_track_set());
    CHECK(records[0].signals().do_not_track() == "0");
    CHECK_FALSE(records[0].signals().tool_disabled_set());
    REQUIRE(records[0].signals().ci_markers_size() == 1);
    CHECK(records[0].signals().ci_markers(0) == "GITHUB_ACTIONS");
}

TEST_CASE("DO_NOT_TRACK and <TOOL>_TELEMETRY_DISABLED send nothing at all") {
    ClientHome env;
    const char* variable = GENERATE("DO_NOT_TRACK", "MY_CLI_TELEMETRY_DISABLED");
    const char* value = GENERATE("1", "true");
    ScopedEnv opt_out(variable, value);
    {
        Client client(demo_config());
        CHECK(client.mode() == Mode::disabled);
        client.track_command("build").success(true);
        client.track_feature("x");
        CHECK(client.flush(100ms));
        CHECK(client.stats().suppressed == 2);
        CHECK(client.stats().tracked == 2);
    }
    CHECK_FALSE(fs::exists(env.spool()));
}

TEST_CASE("TELEMETRY_KIT_DEBUG=1 prints each event as a JSON line and sends nothing") {
    ClientHome env;
    ScopedEnv debug("TELEMETRY_KIT_DEBUG", "1");
    StderrCapture capture(env.dir / "stderr");
    {
        Client client(demo_config());
        CHECK(client.mode() == Mode::debug);
        client.track_command("build", {{"target", "rel\"ease"}, {"ok", true}, {"n", -3}}).success(false).exit_code(2);
        client.track_feature("cache.remote");
    }
    const std::string text = capture.text();
    INFO(text);
    CHECK(std::count(text.begin(), text.end(), '\n') == 2);
    CHECK(text.find(R"("tool":"my-cli","tool_version":"1.2.0","kind":"command","name":"build")") != std::string::npos);
    CHECK(text.find(R"("attributes":{"target":"rel\"ease","ok":true,"n":-3})") != std::string::npos);
    CHECK(text.find(R"("success":false,"exit_code":2})") != std::string::npos);
    CHECK(text.find(R"("kind":"feature","name":"cache.remote")") != std::string::npos);
    CHECK_FALSE(fs::exists(env.spool()));
}

TEST_CASE("CommandScope records duration and success, and an escaping exception is a failure") {
    ClientHome env;
    {
        Client client(demo_config());
        { telemetry_kit::CommandScope ok(client, "ok", {{"k", "v"}}); }
        try {
            telemetry_kit::CommandScope throws(client, "throws");
            throw std::runtime_error("boom");
        } catch (const std::runtime_error&) {
        }
        {
            telemetry_kit::CommandScope failed(client, "exit");
            failed.exit_code(3);
        }
        {
            telemetry_kit::CommandScope marked(client, "marked");
            marked.fail();
        }
    }
    const auto records = read_spool(env.spool());
    REQUIRE(records.size() == 4);
    CHECK(records[0].event().name() == "ok");
    CHECK(records[0].event().success());
    CHECK(records[0].event().has_duration_us());
    CHECK(records[0].event().attributes().at("k").string_value() == "v");
    CHECK(records[1].event().name() == "throws");
    CHECK_FALSE(records[1].event().success());
    CHECK(records[2].event().exit_code() == 3);
    CHECK_FALSE(records[2].event().success());
    CHECK_FALSE(records[3].event().success());
}

TEST_CASE("an unwritable state dir: events are dropped and counted, the host goes on") {
    ClientHome env;
    fs::remove_all(env.home);
    {
        std::ofstream blocker(env.home);  // a file where the state dir should be
    }
    Client client(demo_config());
    client.track_command("build");
    CHECK(client.flush(2s));  // settled: dropped counts as settled
    CHECK(client.stats().dropped == 1);
    CHECK(client.stats().spooled == 0);
}

TEST_CASE("a client without a tool name is disabled, and a disabled client is harmless") {
    ClientHome env;
    Client client(telemetry_kit::Config{});
    CHECK(client.mode() == Mode::disabled);
    client.track_command("x").success(true).duration(1ms).attribute("a", 1);
    CHECK(client.flush(10ms));
    CHECK_FALSE(fs::exists(env.spool()));
}
