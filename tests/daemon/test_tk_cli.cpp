// The tk command-line tool against a real agent: each command's output and exit code.
#include <catch2/catch.hpp>

#include "agent_client.hpp"

using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

RunResult tk_run(RunningAgent& agent, std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    ProcessOptions options;
    options.argv = {binary("tk").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = agent.env();
    for (auto& [name, value] : env) options.env[name] = value;
    return run(options, std::chrono::seconds(20));
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("tk status says plainly when no agent runs, and exits 3") {
    TempDir dir;
    ProcessOptions options;
    options.argv = {binary("tk").string(), "status"};
    options.env = hermetic_env(dir.path());
    const auto socket = dir / "nowhere.sock";
    options.env["TELEMETRY_KIT_SOCKET"] = socket.string();
    const auto result = run(options);
    CHECK(result.exit_code == 3);
    CHECK(result.err == "telemetry-kit agent is not running (no agent at " + socket.string() + ")\n");
    CHECK(result.out.empty());
    options.argv = {binary("tk").string(), "--socket", (dir / "other.sock").string(), "events"};
    CHECK(run(options).exit_code == 3);
    options.argv = {binary("tk").string(), "status", "--socket", (dir / "other.sock").string()};
    const auto after = run(options);
    CHECK(after.exit_code == 3);
    CHECK(after.err.find("other.sock") != std::string::npos);
}

TEST_CASE("tk track records typed attributes, tk events and tk status show them") {
    RunningAgent agent;
    auto tracked = tk_run(agent, {"track", "shelltool", "deploy", "env=prod", "count=3", "ratio=0.25", "dry=false",
                                  "--opt-out", "--kind", "command", "--tool-version", "2.0"});
    REQUIRE(tracked.exit_code == 0);
    CHECK(contains(tracked.out, "recorded shelltool deploy"));

    const auto events = agent.control(events_request("shelltool")).events();
    REQUIRE(events.events_size() == 1);
    const auto& event = events.events(0);
    CHECK(event.kind() == v1::EVENT_KIND_COMMAND);
    CHECK(event.tool_version() == "2.0");
    CHECK(event.attributes().at("env").string_value() == "prod");
    CHECK(event.attributes().at("count").int_value() == 3);
    CHECK(event.attributes().at("ratio").double_value() == 0.25);
    CHECK(event.attributes().at("dry").has_bool_value());

    const auto listed = tk_run(agent, {"events"});
    CHECK(listed.exit_code == 0);
    CHECK(contains(listed.out, "shelltool 2.0  deploy count=3 dry=false env=\"prod\" ratio=0.25"));
    CHECK(contains(listed.out, "1 of 1 queued events shown"));
    const auto json = tk_run(agent, {"events", "--json", "--tool", "shelltool"});
    CHECK(json.exit_code == 0);
    CHECK(contains(json.out, "\"int_value\": \"3\""));
    CHECK(contains(json.out, "\"total\": \"1\""));

    // Opt-in tool without a grant, and DO_NOT_TRACK in the script's environment: not recorded.
    CHECK(contains(tk_run(agent, {"track", "optin", "x"}).out, "not recorded"));
    CHECK(
        contains(tk_run(agent, {"track", "shelltool", "x", "--opt-out"}, {{"DO_NOT_TRACK", "1"}}).out, "not recorded"));
    CHECK(contains(tk_run(agent, {"track", "shelltool", "x", "--opt-out"}, {{"SHELLTOOL_TELEMETRY_DISABLED", "1"}}).out,
                   "not recorded"));
    CHECK(tk_run(agent, {"track", "shelltool", "x", "novalue"}).exit_code == 2);

    const auto status = tk_run(agent, {"status"});
    CHECK(status.exit_code == 0);
    CHECK(contains(status.out, "telemetry-kit agent "));
    CHECK(contains(status.out, "queue: 1 events"));
    CHECK(contains(status.out, "do_not_track=1 tool_disabled=1"));
    CHECK(contains(status.out, "consent_unset=1"));
    const auto status_json = tk_run(agent, {"status", "--json"});
    CHECK(status_json.exit_code == 0);
    CHECK(contains(status_json.out, "\"queue_events\": \"1\""));
    CHECK(contains(status_json.out, "\"reason\": \"do_not_track\""));
}

TEST_CASE("tk consent grant, deny, reset and status") {
    RunningAgent agent;
    auto granted = tk_run(agent, {"consent", "grant", "mytool"});
    CHECK(granted.exit_code == 0);
    CHECK(contains(granted.out, "consent granted for mytool"));
    CHECK(contains(granted.out, "on (granted)"));
    CHECK(contains(tk_run(agent, {"track", "mytool", "used"}).out, "recorded"));

    auto denied = tk_run(agent, {"consent", "deny", "mytool"});
    CHECK(contains(denied.out, "off (denied)"));
    CHECK(agent.control(events_request("mytool")).events().total() == 0);

    const auto all = tk_run(agent, {"consent", "deny", "--all"});
    CHECK(contains(all.out, "global switch: off"));
    const auto json = tk_run(agent, {"consent", "status", "--json"});
    CHECK(contains(json.out, "\"global_consent\": \"CONSENT_DENIED\""));
    CHECK(contains(tk_run(agent, {"consent", "reset", "--all"}).out, "global switch: on"));
    const auto status = tk_run(agent, {"consent", "status", "mytool"});
    CHECK(status.exit_code == 0);
    CHECK(contains(status.out, "mytool                  unset"));
    CHECK(tk_run(agent, {"consent", "grant"}).exit_code == 2);
    CHECK(tk_run(agent, {"consent", "maybe", "x"}).exit_code == 2);
}

TEST_CASE("tk flush and tk forget") {
    RunningAgent agent;
    REQUIRE(tk_run(agent, {"track", "gone", "a", "--opt-out"}).exit_code == 0);
    REQUIRE(tk_run(agent, {"track", "gone", "b", "--opt-out"}).exit_code == 0);
    const auto flushed = tk_run(agent, {"flush"});
    CHECK(flushed.exit_code == 0);
    CHECK(contains(flushed.out, "committed; 2 events queued"));
    const auto forgot = tk_run(agent, {"forget", "gone"});
    CHECK(forgot.exit_code == 0);
    CHECK(contains(forgot.out, "deleted 2 local events; new anonymous id for gone"));
    const auto unknown = tk_run(agent, {"forget", "nobody-knows"});
    CHECK(unknown.exit_code == 1);
    CHECK(contains(unknown.err, "unknown tool"));
    CHECK(tk_run(agent, {"forget"}).exit_code == 2);
}

TEST_CASE("tk --help lists every command and the exit codes") {
    TempDir dir;
    ProcessOptions options;
    options.argv = {binary("tk").string(), "--help"};
    const auto help = run(options);
    CHECK(help.exit_code == 0);
    for (const char* command : {"status", "consent", "events", "flush", "forget", "track", "Exit codes"}) {
        CHECK(contains(help.out, command));
    }
    options.argv = {binary("tk-agent").string(), "--help"};
    const auto agent_help = run(options);
    CHECK(agent_help.exit_code == 0);
    for (const char* flag : {"--socket", "--home", "--config", "--log-level", "--foreground"}) {
        CHECK(contains(agent_help.out, flag));
    }
}

TEST_CASE("tk track with no agent spools the event, and the agent imports it when it starts") {
    RunningAgent agent;
    REQUIRE(agent.stop() == 0);
    const auto spool = agent.home() / "spool";

    const auto spooled = tk_run(agent, {"track", "shelltool", "offline", "n=1", "--opt-out"});
    CHECK(spooled.exit_code == 0);
    CHECK(contains(spooled.out, "spooled shelltool offline"));
    REQUIRE(fs::exists(spool));
    const auto spool_size = fs::file_size(spool);
    CHECK(spool_size > 0);

    // Opted out: nothing is written, not even to the local spool.
    const auto dnt = tk_run(agent, {"track", "shelltool", "private", "--opt-out"}, {{"DO_NOT_TRACK", "1"}});
    CHECK(dnt.exit_code == 0);
    CHECK(contains(dnt.out, "not recorded"));
    CHECK(fs::file_size(spool) == spool_size);
    // Another agent's socket: its spool is unknown, so nothing is written and tk says no agent runs.
    const auto elsewhere =
        tk_run(agent, {"track", "shelltool", "lost", "--opt-out", "--socket", (agent.root() / "other.sock").string()});
    CHECK(elsewhere.exit_code == 3);
    CHECK(fs::file_size(spool) == spool_size);

    agent.start();
    const auto events = agent.control(events_request("shelltool")).events();
    REQUIRE(events.events_size() == 1);
    CHECK(events.events(0).name() == "offline");
    CHECK(events.events(0).attributes().at("n").int_value() == 1);
    CHECK_FALSE(fs::exists(spool));
}
