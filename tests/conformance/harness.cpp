// The conformance harness (tests/conformance/SCENARIOS.md): one test case per scenario, run against
// the client named by TK_CONFORMANCE_CLIENT whose conformance tool is TK_CONFORMANCE_TOOL
// ("argv0|argv1|..."). It starts the real agent, runs the tool, and checks what arrived through the
// agent (control requests), the spool file and listeners of its own.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "daemon/agent_client.hpp"
#include "support/process.hpp"
#include "telemetry_kit/v1/agent.pb.h"
#include "tk/common/framing.hpp"
#include "tk/common/spool_format.hpp"

using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

constexpr const char* kTool = "conformance";
using steady = std::chrono::steady_clock;

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- the tool under test ----

std::string client_name() {
    const char* name = std::getenv("TK_CONFORMANCE_CLIENT");
    if (name == nullptr || *name == '\0')
        throw std::runtime_error("TK_CONFORMANCE_CLIENT is not set (run through ctest)");
    return name;
}

std::vector<std::string> tool_argv() {
    const char* command = std::getenv("TK_CONFORMANCE_TOOL");
    if (command == nullptr || *command == '\0')
        throw std::runtime_error("TK_CONFORMANCE_TOOL is not set (run through ctest)");
    std::vector<std::string> argv;
    std::stringstream words(command);
    for (std::string word; std::getline(words, word, '|');) argv.push_back(word);
    return argv;
}

/// One run of the conformance tool: its output, its stats line, and when it ran.
struct ToolRun {
    RunResult result;
    std::string stats_line;
    std::int64_t started_unix_ms = 0;
    std::int64_t ended_unix_ms = 0;
    std::chrono::milliseconds elapsed{0};
    /// When the process ended (µs since the epoch), seen by waitid() before it was reaped.
    std::optional<std::int64_t> exited_unix_us;

    /// The raw JSON value of `key` in the stats line ("" if absent).
    std::string raw(const std::string& key) const {
        const std::regex pattern("\"" + key + "\"\\s*:\\s*(true|false|null|-?[0-9]+|\"[^\"]*\")");
        std::smatch match;
        return std::regex_search(stats_line, match, pattern) ? match[1].str() : std::string();
    }
    long long count(const std::string& key) const {
        const std::string value = raw(key);
        return value.empty() || (value[0] != '-' && !std::isdigit(static_cast<unsigned char>(value[0])))
                   ? -1
                   : std::stoll(value);
    }
    std::string text(const std::string& key) const {
        const std::string value = raw(key);
        return value.size() >= 2 && value[0] == '"' ? value.substr(1, value.size() - 2) : value;
    }
};

std::int64_t unix_us_now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// When `pid` exits (µs since the epoch, 1 ms resolution), without reaping it (WNOWAIT: the
/// ChildProcess reaps it); nullopt if it is still running at `deadline`.
std::optional<std::int64_t> exit_time(pid_t pid, std::chrono::milliseconds deadline) {
    const auto end = steady::now() + deadline;
    while (steady::now() < end) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
            return unix_us_now();
        std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
}

/// Runs the tool for `scenario` with `env` (on top of the inherited environment, from which every
/// opt-out, debug and CI variable is removed) and checks the contract's common part.
ToolRun run_tool(const std::string& scenario, const std::map<std::string, std::string>& env) {
    ProcessOptions options;
    options.argv = tool_argv();
    options.argv.push_back(scenario);
    options.env = env;
    TempDir output("tk-conformance-run-");
    options.stdout_file = output / "stdout";
    options.stderr_file = output / "stderr";
    ToolRun tool_run;
    tool_run.started_unix_ms = unix_ms_now();
    const auto start = steady::now();
    {
        ChildProcess child(options);
        tool_run.exited_unix_us = exit_time(child.pid(), 30s);
        const auto code = child.wait(tool_run.exited_unix_us ? 10s : 0ms);
        if (code) {
            tool_run.result.exit_code = *code;
        } else {
            child.kill();  // still running after 30 s
        }
    }
    tool_run.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
    tool_run.ended_unix_ms = unix_ms_now();
    tool_run.result.out = read_file(output / "stdout");
    tool_run.result.err = read_file(output / "stderr");
    std::stringstream lines(tool_run.result.out);
    int json_lines = 0;
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line[0] == '{') {
            tool_run.stats_line = line;
            ++json_lines;
        }
    }
    INFO("tool: " << client_name() << " " << scenario << "\nstdout: " << tool_run.result.out
                  << "\nstderr: " << tool_run.result.err);
    REQUIRE(tool_run.result.exit_code == 0);
    REQUIRE(json_lines == 1);
    CHECK(tool_run.text("client") == client_name());
    CHECK(tool_run.text("scenario") == scenario);
    return tool_run;
}

std::string describe(const ToolRun& run) { return "stats: " + run.stats_line + "\nstderr: " + run.result.err; }

/// The client's own exit delay: from the tool's last statement (`finished_unix_us` in its stats
/// line) to the end of its process.
std::int64_t exit_delay_us(const ToolRun& run) {
    INFO(describe(run));
    const long long finished = run.count("finished_unix_us");
    REQUIRE(finished > 0);
    REQUIRE(run.exited_unix_us.has_value());
    const std::int64_t delay = *run.exited_unix_us - finished;
    CHECK(delay >= -2'000);  // the two clocks are one (CLOCK_REALTIME); a little slack for rounding
    return std::max<std::int64_t>(delay, 0);
}

// ---- what the tool records ----

std::map<std::string, std::string> with(std::map<std::string, std::string> env,
                                        const std::map<std::string, std::string>& extra) {
    for (const auto& [name, value] : extra) env[name] = value;
    return env;
}

std::vector<v1::Event> queued_events(RunningAgent& agent) {
    const auto response = agent.control(events_request(kTool, 5000));
    return {response.events().events().begin(), response.events().events().end()};
}

const v1::Event* find_event(const std::vector<v1::Event>& events, const std::string& name) {
    for (const auto& event : events) {
        if (event.name() == name) return &event;
    }
    return nullptr;
}

void check_attribute_string(const v1::Event& event, const std::string& key, const std::string& value) {
    INFO("attribute " << key << " of " << event.name());
    REQUIRE(event.attributes().count(key) == 1);
    CHECK(event.attributes().at(key).value_case() == v1::AttributeValue::kStringValue);
    CHECK(event.attributes().at(key).string_value() == value);
}

void check_attribute_int(const v1::Event& event, const std::string& key, std::int64_t value) {
    INFO("attribute " << key << " of " << event.name());
    REQUIRE(event.attributes().count(key) == 1);
    CHECK(event.attributes().at(key).value_case() == v1::AttributeValue::kIntValue);
    CHECK(event.attributes().at(key).int_value() == value);
}

void check_attribute_double(const v1::Event& event, const std::string& key, double value) {
    INFO("attribute " << key << " of " << event.name());
    REQUIRE(event.attributes().count(key) == 1);
    CHECK(event.attributes().at(key).value_case() == v1::AttributeValue::kDoubleValue);
    CHECK(event.attributes().at(key).double_value() == value);
}

void check_attribute_bool(const v1::Event& event, const std::string& key, bool value) {
    INFO("attribute " << key << " of " << event.name());
    REQUIRE(event.attributes().count(key) == 1);
    CHECK(event.attributes().at(key).value_case() == v1::AttributeValue::kBoolValue);
    CHECK(event.attributes().at(key).bool_value() == value);
}

void check_id(const v1::Event& event) {
    INFO("id of " << event.name());
    REQUIRE(event.id().size() == 16);
    const auto* id = reinterpret_cast<const unsigned char*>(event.id().data());
    CHECK((id[6] >> 4) == 7);       // UUID version 7
    CHECK((id[8] & 0xC0) == 0x80);  // RFC 9562 variant
    std::int64_t prefix_ms = 0;
    for (int i = 0; i < 6; ++i) prefix_ms = (prefix_ms << 8) | id[i];
    CHECK(std::llabs(prefix_ms - event.timestamp_unix_ms()) <= 2000);
}

/// The four events of SCENARIOS.md, as recorded by the tool between `run`'s start and end.
void check_four_events(const std::vector<v1::Event>& events, const ToolRun& run, bool ci) {
    REQUIRE(events.size() == 4);
    std::set<std::string> ids;
    for (const auto& event : events) {
        INFO("event " << event.name());
        ids.insert(event.id());
        check_id(event);
        CHECK(event.tool() == kTool);
        CHECK(event.tool_version() == "1.0.0");
        CHECK(event.ci() == ci);
        CHECK(event.timestamp_unix_ms() >= run.started_unix_ms - 2000);
        CHECK(event.timestamp_unix_ms() <= run.ended_unix_ms + 2000);
    }
    CHECK(ids.size() == 4);

    const v1::Event* build = find_event(events, "build");
    REQUIRE(build != nullptr);
    CHECK(build->kind() == v1::EVENT_KIND_COMMAND);
    CHECK(build->attributes().size() == 7);
    check_attribute_string(*build, "target", "release");
    check_attribute_int(*build, "jobs", 8);
    check_attribute_double(*build, "ratio", 0.25);
    check_attribute_bool(*build, "cached", true);
    check_attribute_string(*build, "empty", "");
    check_attribute_int(*build, "negative", -42);
    check_attribute_int(*build, "big", 1099511627776LL);
    REQUIRE(build->has_success());
    CHECK(build->success());
    REQUIRE(build->has_duration_us());
    CHECK(build->duration_us() == 1500);
    REQUIRE(build->has_exit_code());
    CHECK(build->exit_code() == 0);

    const v1::Event* test = find_event(events, "test");
    REQUIRE(test != nullptr);
    CHECK(test->kind() == v1::EVENT_KIND_COMMAND);
    CHECK(test->attributes().empty());
    REQUIRE(test->has_success());
    CHECK_FALSE(test->success());
    REQUIRE(test->has_duration_us());
    CHECK(test->duration_us() == 250000);
    REQUIRE(test->has_exit_code());
    CHECK(test->exit_code() == 3);

    const v1::Event* feature = find_event(events, "cache.remote");
    REQUIRE(feature != nullptr);
    CHECK(feature->kind() == v1::EVENT_KIND_FEATURE);
    CHECK(feature->attributes().size() == 2);
    check_attribute_bool(*feature, "hit", false);
    check_attribute_int(*feature, "zero", 0);
    CHECK_FALSE(feature->has_success());
    CHECK_FALSE(feature->has_duration_us());
    CHECK_FALSE(feature->has_exit_code());

    const v1::Event* custom = find_event(events, "custom.thing");
    REQUIRE(custom != nullptr);
    CHECK(custom->kind() == v1::EVENT_KIND_CUSTOM);
    CHECK(custom->attributes().size() == 2);
    check_attribute_string(*custom, "text", "h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC");
    check_attribute_double(*custom, "pi", 3.5);
    CHECK_FALSE(custom->has_success());
    CHECK_FALSE(custom->has_duration_us());
    CHECK_FALSE(custom->has_exit_code());
}

void check_stats(const ToolRun& run, const std::string& mode, long long delivered, long long spooled,
                 long long suppressed, const std::string& flushed = "true") {
    INFO(describe(run));
    CHECK(run.text("mode") == mode);
    CHECK(run.count("tracked") == 4);
    CHECK(run.count("delivered") == delivered);
    CHECK(run.count("spooled") == spooled);
    CHECK(run.count("dropped") == 0);
    CHECK(run.count("suppressed") == suppressed);
    CHECK(run.raw("flushed") == flushed);
}

// ---- the spool ----

std::vector<v1::SpoolRecord> read_spool(const fs::path& file) {
    const std::string bytes = read_file(file);
    const tk::spool::Scan scan = tk::spool::scan(bytes);
    CHECK_FALSE(scan.legacy);
    CHECK(scan.damaged_spans == 0);
    std::vector<v1::SpoolRecord> records;
    for (const std::string_view payload : scan.records) {
        v1::SpoolRecord record;
        CHECK(record.ParseFromArray(payload.data(), static_cast<int>(payload.size())));
        records.push_back(std::move(record));
    }
    return records;
}

std::vector<v1::Event> spooled_events(const fs::path& file) {
    std::vector<v1::Event> events;
    for (const auto& record : read_spool(file)) events.push_back(record.event());
    return events;
}

void check_spool_identity(const v1::SpoolRecord& record) {
    CHECK(record.tool().tool() == kTool);
    CHECK(record.tool().version() == "1.0.0");
    CHECK(record.tool().endpoint() == "http://127.0.0.1:9");
    CHECK(record.tool().ingest_key() == "conformance-key");
    CHECK(record.tool().consent_mode() == v1::CONSENT_MODE_OPT_OUT);
    CHECK(record.tool().local_only());
    CHECK_FALSE(record.tool().allow_ci());
}

// ---- listeners the harness owns ----

/// A directory layout for a tool run without the harness's agent: hermetic paths under a temp dir,
/// with the socket's directory made private (0700) so a client would trust a socket in it.
struct Sandbox {
    TempDir dir{"tk-conformance-"};
    std::map<std::string, std::string> env = hermetic_env(dir.path());
    fs::path socket = env["TELEMETRY_KIT_SOCKET"];
    fs::path state = env["TELEMETRY_KIT_HOME"];
    Sandbox() {
        fs::create_directories(socket.parent_path());
        fs::permissions(socket.parent_path(), fs::perms::owner_all, fs::perm_options::replace);
    }
};

/// A listening Unix socket that never reads while the tool runs. `as_user`: listen() is called in a
/// child that has become that user (so the peer credentials a client sees are theirs), and the
/// socket file is chowned to them. Afterwards the harness accepts and reads what was sent.
class Listener {
public:
    explicit Listener(const fs::path& path, std::optional<passwd> as_user = std::nullopt) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        if (as_user) {
            REQUIRE(::chown(path.c_str(), as_user->pw_uid, as_user->pw_gid) == 0);
            listen_as(as_user->pw_uid, as_user->pw_gid);
        } else {
            REQUIRE(::listen(fd_, 64) == 0);
        }
        ::fcntl(fd_, F_SETFL, O_NONBLOCK);
    }
    ~Listener() { ::close(fd_); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    /// Accepts every connection made so far and returns every byte they carried (the clients have
    /// exited, so each read ends at EOF).
    std::string received() {
        for (int conn; (conn = ::accept(fd_, nullptr, nullptr)) >= 0;) {
            char buffer[65536];
            for (;;) {
                const ssize_t n = ::recv(conn, buffer, sizeof buffer, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                bytes_.append(buffer, static_cast<std::size_t>(n));
            }
            ::close(conn);
            ++connections_;
        }
        return bytes_;
    }
    int connections() {
        received();
        return connections_;
    }

private:
    void listen_as(uid_t uid, gid_t gid) {
        const pid_t child = ::fork();
        if (child == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
            ::_exit(::listen(fd_, 64) == 0 ? 0 : 1);
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    }

    int fd_ = -1;
    int connections_ = 0;
    std::string bytes_;
};

/// Names of the events in a client's frames.
std::vector<std::string> event_names_in_frames(const std::string& bytes) {
    std::vector<std::string> names;
    tk::framing::FrameDecoder decoder;
    decoder.feed(bytes);
    std::string_view payload;
    while (decoder.next(payload) == tk::framing::FrameDecoder::Status::frame) {
        v1::ClientFrame frame;
        if (frame.ParseFromArray(payload.data(), static_cast<int>(payload.size())) && frame.has_event()) {
            names.push_back(frame.event().name());
        }
    }
    return names;
}

std::optional<passwd> nobody() {
    if (::geteuid() != 0) return std::nullopt;
    const passwd* pw = ::getpwnam("nobody");
    if (pw == nullptr) return std::nullopt;
    return *pw;
}

bool has_entries(const fs::path& dir) {
    std::error_code ec;
    return fs::exists(dir, ec) && !fs::is_empty(dir, ec);
}

/// The agent's queue reaches `count` events of the tool within 10 s.
bool queue_reaches(RunningAgent& agent, std::size_t count) {
    return wait_until([&] { return queued_events(agent).size() >= count; }, 10s) &&
           queued_events(agent).size() == count;
}

/// No connection (or, in debug mode, one that carried nothing: a client may check who listens, as
/// the C++ client does to say whether a real run could send), no file.
void check_left_nothing(Sandbox& box, Listener& listener, bool may_connect = false) {
    if (!may_connect) CHECK(listener.connections() == 0);
    CHECK(listener.received().empty());
    CHECK_FALSE(has_entries(box.state));
    CHECK_FALSE(fs::exists(box.state / "spool"));
    CHECK_FALSE(has_entries(box.dir.path() / "state"));
}

}  // namespace

TEST_CASE("fields") {
    RunningAgent agent;
    const ToolRun run = run_tool("fields", agent.env());
    check_stats(run, "sending", 4, 0, 0);
    check_four_events(queued_events(agent), run, /*ci=*/false);
    const auto status = agent.status();
    const v1::ToolStatus* tool = find_tool(status, kTool);
    REQUIRE(tool != nullptr);
    CHECK(tool->consent_mode() == v1::CONSENT_MODE_OPT_OUT);
    CHECK(tool->endpoint() == "http://127.0.0.1:9");
    CHECK(tool->local_only());
    CHECK(tool->dropped().empty());
    CHECK_FALSE(fs::exists(agent.home() / "spool"));
}

TEST_CASE("do_not_track") {
    Sandbox box;
    Listener listener(box.socket);
    const ToolRun run = run_tool("do_not_track", with(box.env, {{"DO_NOT_TRACK", "1"}}));
    check_stats(run, "disabled", 0, 0, 4);
    check_left_nothing(box, listener);
}

TEST_CASE("tool_disabled") {
    Sandbox box;
    Listener listener(box.socket);
    const ToolRun run = run_tool("tool_disabled", with(box.env, {{"CONFORMANCE_TELEMETRY_DISABLED", "1"}}));
    check_stats(run, "disabled", 0, 0, 4);
    check_left_nothing(box, listener);
}

TEST_CASE("do_not_track_zero") {
    RunningAgent agent;
    const ToolRun run = run_tool(
        "do_not_track_zero", with(agent.env(), {{"DO_NOT_TRACK", "0"}, {"CONFORMANCE_TELEMETRY_DISABLED", "false"}}));
    check_stats(run, "sending", 4, 0, 0);
    CHECK(queued_events(agent).size() == 4);
    const auto status = agent.status();
    const v1::ToolStatus* tool = find_tool(status, kTool);
    REQUIRE(tool != nullptr);
    CHECK(tool->dropped().empty());
}

TEST_CASE("debug") {
    Sandbox box;
    Listener listener(box.socket);
    const ToolRun run = run_tool("debug", with(box.env, {{"TELEMETRY_KIT_DEBUG", "1"}}));
    check_stats(run, "debug", 0, 0, 4);
    check_left_nothing(box, listener, /*may_connect=*/true);

    std::vector<std::string> lines;
    std::stringstream err(run.result.err);
    for (std::string line; std::getline(err, line);) {
        if (!line.empty() && line[0] == '{') lines.push_back(line);
    }
    INFO(describe(run));
    REQUIRE(lines.size() == 4);
    const auto has = [](const std::string& line, const std::string& key, const std::string& json_value) {
        return std::regex_search(line, std::regex("\"" + key + "\"\\s*:\\s*" + json_value + "\\s*[,}]"));
    };
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"build", "command"}, {"test", "command"}, {"cache\\.remote", "feature"}, {"custom\\.thing", "custom"}};
    for (std::size_t i = 0; i < lines.size(); ++i) {
        INFO("line " << lines[i]);
        CHECK(lines[i].back() == '}');
        CHECK(has(lines[i], "tool", "\"conformance\""));
        CHECK(has(lines[i], "tool_version", "\"1\\.0\\.0\""));
        CHECK(has(lines[i], "name", "\"" + expected[i].first + "\""));
        CHECK(has(lines[i], "kind", "\"" + expected[i].second + "\""));
        CHECK(has(lines[i], "id", "\"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\""));
        CHECK(has(lines[i], "timestamp_unix_ms", "[0-9]{13}"));
    }
    CHECK(has(lines[0], "target", "\"release\""));
    CHECK(has(lines[0], "jobs", "8"));
    CHECK(has(lines[0], "cached", "true"));
    CHECK(has(lines[0], "success", "true"));
    CHECK(has(lines[0], "duration_us", "1500"));
    CHECK(has(lines[1], "exit_code", "3"));
    CHECK(has(lines[2], "hit", "false"));
}

TEST_CASE("spool_import") {
    RunningAgent agent;
    REQUIRE(agent.stop() == 0);
    const ToolRun run = run_tool("spool_import", agent.env());
    check_stats(run, "sending", 0, 4, 0);

    const fs::path spool = agent.home() / "spool";
    REQUIRE(fs::exists(spool));
    struct stat st {};
    REQUIRE(::lstat(spool.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    const auto records = read_spool(spool);
    for (const auto& record : records) check_spool_identity(record);
    const auto spooled = spooled_events(spool);
    check_four_events(spooled, run, /*ci=*/false);

    agent.start();
    REQUIRE(queue_reaches(agent, 4));
    const auto imported = queued_events(agent);
    std::set<std::string> spooled_ids, imported_ids;
    for (const auto& event : spooled) spooled_ids.insert(event.id());
    for (const auto& event : imported) imported_ids.insert(event.id());
    CHECK(imported_ids == spooled_ids);
    check_four_events(imported, run, /*ci=*/false);
    CHECK(wait_until([&] { return !fs::exists(spool) && !fs::exists(agent.home() / "spool.importing"); }, 10s));
    const auto status = agent.status();
    CHECK(status.spool().imported_records() == 4);
    CHECK(status.spool().damaged_spans() == 0);

    REQUIRE(agent.stop() == 0);
    agent.start();
    CHECK(queued_events(agent).size() == 4);
}

TEST_CASE("agent_stalled") {
    // The promise: the tool exits within 200 ms of its last statement even if the agent never reads.
    // Measured as the client's own exit delay, from the tool's last statement (its
    // `finished_unix_us`, taken just before it prints its stats line) to the end of the process as
    // waitid() sees it — not from spawn, whose runtime start-up swings by hundreds of ms on a loaded
    // machine. The fastest of 5 runs, so that a load spike does not decide; the same tool with no
    // agent at all (its exit delay is the spool append and the runtime's own teardown) is reported
    // beside it.
    std::int64_t fastest_stalled_us = std::numeric_limits<std::int64_t>::max();
    std::int64_t fastest_baseline_us = std::numeric_limits<std::int64_t>::max();
    std::chrono::milliseconds fastest_stalled_run = 1h;  // whole runs from spawn, for the report only
    std::chrono::milliseconds fastest_baseline_run = 1h;
    for (int attempt = 0; attempt < 5; ++attempt) {
        Sandbox absent;
        const ToolRun baseline = run_tool("agent_stalled", absent.env);
        fastest_baseline_us = std::min(fastest_baseline_us, exit_delay_us(baseline));
        fastest_baseline_run = std::min(fastest_baseline_run, baseline.elapsed);

        Sandbox box;
        Listener stalled(box.socket);
        const ToolRun run = run_tool("agent_stalled", box.env);
        fastest_stalled_us = std::min(fastest_stalled_us, exit_delay_us(run));
        fastest_stalled_run = std::min(fastest_stalled_run, run.elapsed);
        INFO(describe(run));
        CHECK(run.text("mode") == "sending");
        CHECK(run.count("tracked") == 4);
        CHECK(run.raw("flushed") == "null");

        // No event is lost even if this agent dies now: every client spools all four at exit,
        // intact, whatever it also wrote into the stalled connection (the agent dedups by id).
        const fs::path spool = box.state / "spool";
        REQUIRE(fs::exists(spool));
        const auto records = read_spool(spool);
        for (const auto& record : records) check_spool_identity(record);
        check_four_events(spooled_events(spool), run, /*ci=*/false);
        // A connection is not part of the promise: a short process may hand its events to the spool
        // alone (the Node client holds them in memory until 50 ms after the first; SCENARIOS.md).
        if (attempt == 0) {
            WARN(client_name() << ": all 4 events spooled at exit; " << stalled.connections() << " connection(s), "
                               << event_names_in_frames(stalled.received()).size()
                               << " events also written whole into the stalled socket");
        }
    }
    INFO("fastest exit delay " << fastest_stalled_us / 1000.0 << " ms, with no agent " << fastest_baseline_us / 1000.0
                               << " ms");
    CHECK(fastest_stalled_us <= 200'000);
    WARN(client_name() << ": exit delay (last statement to process end) against a stalled agent "
                       << fastest_stalled_us / 1000.0 << " ms, with no agent " << fastest_baseline_us / 1000.0
                       << " ms (fastest of 5 each); whole runs from spawn " << fastest_stalled_run.count() << " ms and "
                       << fastest_baseline_run.count() << " ms");
}

TEST_CASE("impostor_socket") {
    const auto pw = nobody();
    if (!pw) {
        WARN("skipped: needs root and a 'nobody' user to play another local user");
        return;
    }
    for (const bool directory_too : {false, true}) {
        INFO((directory_too ? "socket and directory of another user" : "socket of another user in our directory"));
        Sandbox box;
        Listener impostor(box.socket, *pw);
        if (directory_too) REQUIRE(::chown(box.socket.parent_path().c_str(), pw->pw_uid, pw->pw_gid) == 0);
        const ToolRun run = run_tool("impostor_socket", box.env);
        check_stats(run, "sending", 0, 4, 0);
        CHECK(impostor.received().empty());
        const auto records = read_spool(box.state / "spool");
        CHECK(records.size() == 4);
    }
}

TEST_CASE("ci_tagged") {
    RunningAgent agent;
    const ToolRun run = run_tool("ci_tagged", with(agent.env(), {{"CI", "true"}, {"GITHUB_ACTIONS", "true"}}));
    check_stats(run, "sending", 4, 0, 0);
    check_four_events(queued_events(agent), run, /*ci=*/true);
}

TEST_CASE("ci_dropped") {
    RunningAgent agent;
    const ToolRun run = run_tool("ci_dropped", with(agent.env(), {{"CI", "true"}}));
    INFO(describe(run));
    CHECK(run.raw("flushed") == "true");
    CHECK(run.count("spooled") == 0);
    CHECK(run.count("dropped") == 0);
    CHECK(queued_events(agent).empty());
    CHECK(dropped(agent.status(), kTool, "ci") == 4);
}

TEST_CASE("thousand_events") {
    RunningAgent agent;
    const ToolRun run = run_tool("thousand_events", agent.env());
    INFO(describe(run));
    CHECK(run.count("tracked") == 1000);
    CHECK(run.count("delivered") + run.count("spooled") == 1000);
    CHECK(run.count("dropped") == 0);
    CHECK(run.raw("flushed") == "true");
    REQUIRE(queue_reaches(agent, 1000));
    std::set<std::string> ids;
    std::set<std::int64_t> values;
    for (const auto& event : queued_events(agent)) {
        ids.insert(event.id());
        CHECK(event.name() == "bulk");
        CHECK(event.kind() == v1::EVENT_KIND_FEATURE);
        REQUIRE(event.attributes().count("i") == 1);
        values.insert(event.attributes().at("i").int_value());
    }
    CHECK(ids.size() == 1000);
    CHECK(values.size() == 1000);
    CHECK(*values.begin() == 0);
    CHECK(*values.rbegin() == 999);
}
