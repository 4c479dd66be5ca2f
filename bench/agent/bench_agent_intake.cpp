// Agent intake benchmark (docs/benchmarks.md, "Agent intake").
//
//   bench_agent_intake [--clients 8] [--events 50000] [--runs 3] [--idle-seconds 10]
//                      [--client-ids shared|per-client] [--manifest 1]
//                      [--only bare|agent] [--agent-prefix 'valgrind --tool=callgrind ...']
//
// --only and --agent-prefix are for profiling: counting one side's instructions under callgrind
// (a stable figure on a noisy machine); the prefix is run through /bin/sh with the agent's command.
//
// 1. Bare SQLite: the agent's events table (same schema, same serialized rows, WAL, synchronous=NORMAL,
//    prepared 32-row INSERT OR IGNORE, one transaction per 8192 rows): the physical limit of the store.
// 2. The agent: a real tk-agent; N client processes each send Hello + E events + Flush and wait for
//    the ack (= everything committed). Rate = all events / (start signal -> last ack).
// 3. Agent RSS idle and after load (VmHWM), CPU ticks over an idle period, and the scrubber's cost.
// Every figure is the median of the runs; the ratio is agent / bare SQLite.
// --manifest 1: the tool has a manifest in force (seeded in the agent's manifest cache) that
// declares the typical event, so every event is held to it (docs/privacy.md, "Manifests") — on
// the fast path, as sent, since nothing in it is undeclared.
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "telemetry_kit/v1/agent.pb.h"
#include "tk/agent/intake.hpp"
#include "tk/agent/platform.hpp"
#include "tk/agent/scrubber.hpp"
#include "tk/common/framing.hpp"
#include "tk/common/uuid.hpp"

namespace fs = std::filesystem;
namespace v1 = telemetry_kit::v1;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

/// `count` event ids in increasing order, as one clock makes them.
std::vector<tk::Uuid> make_ids(std::size_t count) {
    tk::UuidV7Generator generator;
    std::vector<tk::Uuid> ids(count);
    for (auto& id : ids) id = generator.next();
    return ids;
}

/// A typical command event, as a tool sends it.
v1::Event typical_event(const tk::Uuid& id) {
    v1::Event event;
    event.set_id(tk::to_bytes(id));
    event.set_kind(v1::EVENT_KIND_COMMAND);
    event.set_name("build");
    event.set_timestamp_unix_ms(static_cast<std::int64_t>(tk::uuid_v7_unix_ms(id)));
    (*event.mutable_attributes())["target"].set_string_value("release");
    (*event.mutable_attributes())["cached"].set_bool_value(true);
    (*event.mutable_attributes())["jobs"].set_int_value(8);
    event.set_success(true);
    event.set_duration_us(123456);
    event.set_exit_code(0);
    return event;
}

/// The row the agent stores for it (tool, version and anonymous id set).
std::string stored_payload(v1::Event event) {
    event.set_tool("bench-tool");
    event.set_tool_version("1.0.0");
    event.set_anonymous_id(std::string(32, 'a'));
    // The platform facts the agent stamps on every event (docs/privacy.md), so the rows are the
    // same size as the agent's.
    const auto& platform = tk::agent::local_platform();
    event.set_os(platform.os);
    event.set_os_version(platform.os_version);
    event.set_arch(platform.arch);
    event.set_agent_version(platform.agent_version);
    return event.SerializeAsString();
}

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        std::fprintf(stderr, "sqlite %s: %s\n", what, sqlite3_errmsg(db));
        std::exit(1);
    }
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double g_bare_cpu_us_per_row = 0;  // of the last bare run

/// Bare SQLite: rows per second for inserting the events of `ids`, in that (increasing) order, in
/// transactions of 8192.
double bare_sqlite_rate(const fs::path& dir, const std::vector<tk::Uuid>& ids) {
    std::size_t rows = ids.size();
    const fs::path file = dir / "bare.db";
    fs::remove(file);
    fs::remove(file.string() + "-wal");
    fs::remove(file.string() + "-shm");
    sqlite3* db = nullptr;
    check(sqlite3_open(file.c_str(), &db), db, "open");
    check(sqlite3_exec(db,
                       "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       "CREATE TABLE events(id BLOB PRIMARY KEY, tool_id INTEGER NOT NULL, dest_id INTEGER NOT NULL,"
                       " size INTEGER NOT NULL, payload BLOB NOT NULL) WITHOUT ROWID;",
                       nullptr, nullptr, nullptr),
          db, "schema");
    // The fastest plain way to load rows: a prepared multi-row INSERT (32 rows per step, as the agent
    // does), in large transactions.
    constexpr std::size_t kRows = 32;
    std::string sql = "INSERT OR IGNORE INTO events(id, tool_id, dest_id, size, payload) VALUES(?,?,?,?,?)";
    for (std::size_t i = 1; i < kRows; ++i) sql += ",(?,?,?,?,?)";
    sqlite3_stmt* insert = nullptr;
    check(sqlite3_prepare_v2(db, sql.c_str(), -1, &insert, nullptr), db, "prepare");
    std::vector<std::pair<std::string, std::string>> prepared;
    prepared.reserve(rows);
    for (std::size_t i = 0; i < rows; ++i) {
        auto event = typical_event(ids[i]);
        prepared.emplace_back(event.id(), stored_payload(event));
    }
    const auto start = Clock::now();
    const double cpu_start = thread_cpu_seconds();
    rows -= rows % kRows;
    for (std::size_t i = 0; i < rows; i += kRows) {
        if (i % 8192 == 0) check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
        for (std::size_t r = 0; r < kRows; ++r) {
            const auto& [id, payload] = prepared[i + r];
            const int base = static_cast<int>(r * 5);
            sqlite3_bind_blob(insert, base + 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
            sqlite3_bind_int64(insert, base + 2, 1);
            sqlite3_bind_int64(insert, base + 3, 1);
            sqlite3_bind_int64(insert, base + 4, static_cast<sqlite3_int64>(payload.size()));
            sqlite3_bind_blob(insert, base + 5, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
        }
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
        if ((i + kRows) % 8192 == 0 || i + kRows == rows) {
            check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
        }
    }
    const double elapsed = seconds_since(start);
    g_bare_cpu_us_per_row = (thread_cpu_seconds() - cpu_start) * 1e6 / static_cast<double>(rows);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return static_cast<double>(rows) / elapsed;
}

struct ProcStat {
    long rss_kib = 0;
    long hwm_kib = 0;
    long cpu_ticks = 0;
};

ProcStat proc_stat(pid_t pid) {
    ProcStat result;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) result.rss_kib = std::atol(line.c_str() + 6);
        if (line.rfind("VmHWM:", 0) == 0) result.hwm_kib = std::atol(line.c_str() + 6);
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14 || i == 15) result.cpu_ticks += std::atol(field.c_str());  // utime, stime
    }
    return result;
}

/// CPU ticks per thread name of `pid` ("tk-agent" is the intake thread, "tk-store" the writer).
std::string thread_ticks(pid_t pid) {
    std::string result;
    const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (const auto& task : fs::directory_iterator(tasks, ec)) {
        std::ifstream stat(task.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const auto open = text.find('(');
        const auto close = text.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        std::istringstream fields(text.substr(close + 2));
        std::string field;
        long user = 0;
        long system = 0;
        for (int i = 3; i <= 15 && fields >> field; ++i) {
            if (i == 14) user = std::atol(field.c_str());
            if (i == 15) system = std::atol(field.c_str());
        }
        if (user + system > 0) {
            result += text.substr(open + 1, close - open - 1) + "=" + std::to_string(user + system) + " (user " +
                      std::to_string(user) + ", system " + std::to_string(system) + ") ";
        }
    }
    return result;
}

int connect_unix(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n =
            ::send(fd, bytes.data() + sent, std::min<std::size_t>(bytes.size() - sent, 256 * 1024), MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

/// Which ids the clients' events carry.
enum class ClientIds {
    /// Each client's own, made while it prepares its frames before the start (the default, as in
    /// every figure in docs/benchmarks.md): the clients' id ranges overlap and they send at
    /// different paces, so the agent inserts at several places of the table, not only at its end.
    per_client,
    /// The ids bare SQLite inserts, dealt out in turn (client c sends ids c, c + N, c + 2N...):
    /// batches of clients a little ahead or behind interleave finely, the hardest case for the
    /// store (what sorting each commit by id is for).
    shared,
};

/// One client process: prepares its frames, reports ready, waits for "go", sends, flushes, exits
/// 0 once the ack says every event was accepted.
[[noreturn]] void client_process(const fs::path& socket, const std::vector<tk::Uuid>& shared_ids, ClientIds mode,
                                 int client, int clients, std::size_t events, int ready_fd, int go_fd) {
    tk::UuidV7Generator own_ids;
    std::string frames;
    v1::ClientFrame frame;
    auto* hello = frame.mutable_hello();
    hello->set_protocol_version(1);
    hello->mutable_tool()->set_tool("bench-tool");
    hello->mutable_tool()->set_version("1.0.0");
    hello->mutable_tool()->set_consent_mode(v1::CONSENT_MODE_OPT_OUT);
    // No collector: this measures intake into the store, not forwarding (bench/drain does that).
    tk::framing::append_message(frames, frame);
    for (std::size_t i = 0; i < events; ++i) {
        frame.Clear();
        const std::size_t shared = static_cast<std::size_t>(client) + i * static_cast<std::size_t>(clients);
        *frame.mutable_event() = typical_event(mode == ClientIds::shared ? shared_ids[shared] : own_ids.next());
        tk::framing::append_message(frames, frame);
    }
    frame.Clear();
    frame.mutable_flush()->set_request_id(1);
    tk::framing::append_message(frames, frame);
    const int fd = connect_unix(socket);
    if (fd < 0) ::_exit(2);
    char byte = 'r';
    if (::write(ready_fd, &byte, 1) != 1 || ::read(go_fd, &byte, 1) != 1) ::_exit(3);
    if (!send_all(fd, frames)) ::_exit(4);
    tk::framing::FrameDecoder decoder(tk::framing::kMaxReplyFrameBytes);
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) ::_exit(5);
        decoder.feed(buffer, static_cast<std::size_t>(n));
        std::string_view payload;
        if (decoder.next(payload) == tk::framing::FrameDecoder::Status::frame) {
            v1::AgentReply reply;
            reply.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
            ::_exit(reply.has_flush_ack() && reply.flush_ack().accepted() == events ? 0 : 6);
        }
    }
}

struct AgentProcess {
    pid_t pid = -1;
    fs::path socket;
};

bool g_manifest = false;

/// Puts a manifest for bench-tool in the agent's manifest cache (manifest_fetch.cpp's table), as
/// if fetched: it declares exactly the typical event, so nothing is dropped but all is checked.
void seed_manifest(const fs::path& home) {
    fs::create_directories(home);
    fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace);
    sqlite3* db = nullptr;
    check(sqlite3_open((home / "manifests.db").c_str(), &db), db, "open manifests.db");
    check(sqlite3_exec(db,
                       "CREATE TABLE manifests(tool TEXT PRIMARY KEY, endpoint TEXT NOT NULL, manifest TEXT NOT NULL,"
                       " checked_ms INTEGER NOT NULL);"
                       "INSERT INTO manifests VALUES('bench-tool', 'http://127.0.0.1:9', '{\"tool\": \"bench-tool\","
                       " \"version\": 1, \"events\": [{\"kind\": \"command\", \"name\": \"build\", \"attributes\":"
                       " {\"target\": {\"type\": \"string\", \"values\": [\"debug\", \"release\"]},"
                       " \"cached\": {\"type\": \"bool\"}, \"jobs\": {\"type\": \"int\"}}}]}', 0)",
                       nullptr, nullptr, nullptr),
          db, "seed the manifest");
    sqlite3_close(db);
}

AgentProcess start_agent(const fs::path& dir, const std::string& prefix) {
    AgentProcess agent;
    agent.socket = dir / "run" / "agent.sock";
    const fs::path home = dir / "home";
    if (g_manifest) seed_manifest(home);
    const fs::path config = dir / "agent.conf";
    std::ofstream(config) << "[queue]\nmax_events = 10000000\nmax_bytes = 4000000000\n";
    agent.pid = ::fork();
    if (agent.pid == 0) {
        if (!prefix.empty()) {  // exec, so that the agent (under the prefix) keeps this pid for SIGTERM
            const std::string command = "exec " + prefix + " \"$@\"";
            ::execl("/bin/sh", "sh", "-c", command.c_str(), "sh", TK_AGENT_BINARY, "--socket", agent.socket.c_str(),
                    "--home", home.c_str(), "--config", config.c_str(), "--log-level", "warn",
                    static_cast<char*>(nullptr));
        }
        ::execl(TK_AGENT_BINARY, TK_AGENT_BINARY, "--socket", agent.socket.c_str(), "--home", home.c_str(), "--config",
                config.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // 5 s, or 2 min under a profiler's prefix
    const int polls = prefix.empty() ? 1000 : 24'000;
    for (int i = 0; i < polls; ++i) {
        const int fd = connect_unix(agent.socket);
        if (fd >= 0) {
            ::close(fd);
            return agent;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // start-up poll, not a measurement
    }
    std::fprintf(stderr, "tk-agent did not start\n");
    std::exit(1);
}

void stop_agent(const AgentProcess& agent) {
    ::kill(agent.pid, SIGTERM);
    int status = 0;
    ::waitpid(agent.pid, &status, 0);
}

/// One agent run: events per second from `clients` processes sending `events` each.
double agent_rate(const AgentProcess& agent, const std::vector<tk::Uuid>& ids, ClientIds mode, int clients,
                  std::size_t events) {
    int ready[2];
    int go[2];
    if (::pipe(ready) != 0 || ::pipe(go) != 0) std::exit(1);
    std::vector<pid_t> children;
    for (int c = 0; c < clients; ++c) {
        const pid_t pid = ::fork();
        if (pid == 0) client_process(agent.socket, ids, mode, c, clients, events, ready[1], go[0]);
        children.push_back(pid);
    }
    char byte = 0;
    for (int c = 0; c < clients; ++c) {
        if (::read(ready[0], &byte, 1) != 1) std::exit(1);
    }
    const auto start = Clock::now();
    const std::string go_bytes(static_cast<std::size_t>(clients), 'g');
    if (::write(go[1], go_bytes.data(), go_bytes.size()) != static_cast<ssize_t>(go_bytes.size())) std::exit(1);
    int failures = 0;
    for (const pid_t pid : children) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
    }
    const double elapsed = seconds_since(start);
    for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
    if (failures > 0) {
        std::fprintf(stderr, "%d client(s) failed\n", failures);
        std::exit(1);
    }
    return static_cast<double>(clients) * static_cast<double>(events) / elapsed;
}

double scrub_ns_per_event() {
    const tk::agent::Scrubber scrubber("/home/alice", "alice");
    auto event = typical_event(tk::uuid_v7());
    (*event.mutable_attributes())["path"].set_string_value("/home/alice/src/project/build/out.o");
    (*event.mutable_attributes())["version"].set_string_value("gcc 12.2.0");
    constexpr int kRounds = 100'000;
    std::vector<v1::Event> copies(kRounds, event);  // copied outside the timed loop
    const auto start = Clock::now();
    for (auto& copy : copies) scrubber.apply(copy);
    return seconds_since(start) * 1e9 / kRounds;
}

/// The canonical-form check of issue 17 item 2 (scan_client_event(), the hot path's extra work
/// over storing the bytes as received) on the clients' own event bytes: ns per event, and the
/// share of those events it passes with their attributes already in key order.
double canonical_ns_per_event(double& sorted_share) {
    tk::UuidV7Generator ids;
    constexpr int kEvents = 1000;
    std::vector<std::string> raws;
    for (int i = 0; i < kEvents; ++i) raws.push_back(typical_event(ids.next()).SerializeAsString());
    int sorted = 0;
    for (const auto& raw : raws) sorted += tk::agent::canonical_client_event(raw, "bench-tool") ? 1 : 0;
    sorted_share = static_cast<double>(sorted) / kEvents;
    constexpr int kRounds = 200;
    int passed = 0;
    const auto start = Clock::now();
    for (int r = 0; r < kRounds; ++r) {
        for (const auto& raw : raws) passed += tk::agent::canonical_client_event(raw, "bench-tool") ? 1 : 0;
    }
    const double ns = seconds_since(start) * 1e9 / (kRounds * kEvents);
    if (passed < 0) std::printf("%d\n", passed);  // keeps the loop
    return ns;
}

}  // namespace

int main(int argc, char** argv) {
    int clients = 8;
    std::size_t events = 50'000;
    int runs = 3;
    int idle_seconds = 10;
    std::string only;
    std::string agent_prefix;
    std::string client_ids_name = "per-client";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const long value = std::atol(argv[i + 1]);
        if (flag == "--only")
            only = argv[i + 1];
        else if (flag == "--client-ids")
            client_ids_name = argv[i + 1];
        else if (flag == "--agent-prefix")
            agent_prefix = argv[i + 1];
        else if (flag == "--clients")
            clients = static_cast<int>(value);
        else if (flag == "--events")
            events = static_cast<std::size_t>(value);
        else if (flag == "--runs")
            runs = static_cast<int>(value);
        else if (flag == "--idle-seconds")
            idle_seconds = static_cast<int>(value);
        else if (flag == "--manifest")
            g_manifest = value != 0;
        else {
            std::fprintf(stderr,
                         "usage: %s [--clients N] [--events N] [--runs N] [--idle-seconds N] [--only bare|agent] "
                         "[--agent-prefix COMMAND] [--client-ids shared|per-client] [--manifest 1]\n",
                         argv[0]);
            return 2;
        }
    }
    if (client_ids_name != "shared" && client_ids_name != "per-client") {
        std::fprintf(stderr, "--client-ids: shared or per-client\n");
        return 2;
    }
    const ClientIds client_ids = client_ids_name == "shared" ? ClientIds::shared : ClientIds::per_client;
    if (!only.empty() && only != "bare" && only != "agent") {
        std::fprintf(stderr, "--only: bare or agent\n");
        return 2;
    }
    const int bare_runs = only == "agent" ? 0 : runs;
    const int agent_runs = only == "bare" ? 0 : runs;
    ::signal(SIGPIPE, SIG_IGN);
    char pattern[] = "/tmp/tk-bench-agent-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) return 1;
    const fs::path dir = pattern;

    const std::size_t total = static_cast<std::size_t>(clients) * events;
    const std::vector<tk::Uuid> ids = make_ids(total);
    std::vector<double> bare;
    std::vector<double> bare_cpu;
    for (int r = 0; r < bare_runs; ++r) {
        bare.push_back(bare_sqlite_rate(dir, ids));
        bare_cpu.push_back(g_bare_cpu_us_per_row);
        std::printf("  bare run %d: %.0f rows/s, %.2f us CPU per row\n", r + 1, bare.back(), bare_cpu.back());
    }

    std::vector<double> rates;
    std::vector<double> agent_cpu;
    const double tick_us = 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    long idle_rss = 0;
    long peak_rss = 0;
    long idle_ticks = -1;
    for (int r = 0; r < agent_runs; ++r) {
        const fs::path run_dir = dir / ("run" + std::to_string(r));
        fs::create_directories(run_dir);
        const auto agent = start_agent(run_dir, agent_prefix);
        if (r == 0) idle_rss = proc_stat(agent.pid).rss_kib;
        const long ticks_before = proc_stat(agent.pid).cpu_ticks;
        rates.push_back(agent_rate(agent, ids, client_ids, clients, events));
        agent_cpu.push_back(static_cast<double>(proc_stat(agent.pid).cpu_ticks - ticks_before) * tick_us /
                            static_cast<double>(total));
        std::printf("  run %d: %.0f events/s; agent CPU ticks by thread: %s\n", r + 1, rates.back(),
                    thread_ticks(agent.pid).c_str());
        peak_rss = std::max(peak_rss, proc_stat(agent.pid).hwm_kib);
        if (r + 1 == agent_runs && idle_seconds > 0) {
            const long before = proc_stat(agent.pid).cpu_ticks;
            std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));  // the idle period being measured
            idle_ticks = proc_stat(agent.pid).cpu_ticks - before;
        }
        stop_agent(agent);
    }
    if (!only.empty()) {  // a profiling run: the per-run lines above are its figures
        fs::remove_all(dir);
        return 0;
    }
    const double scrub_ns = scrub_ns_per_event();
    double sorted_share = 0;
    const double canonical_ns = canonical_ns_per_event(sorted_share);
    fs::remove_all(dir);

    const double agent_median = median(rates);
    const double bare_median = median(bare);
    std::printf("agent intake (%d client processes x %zu events, %d runs, median%s)\n", clients, events, runs,
                g_manifest ? "; the tool has a manifest in force" : "");
    std::printf("  bare SQLite batched insert, same rows:  %10.0f rows/s\n", bare_median);
    std::printf("  tk-agent, socket -> committed:          %10.0f events/s   (%.0f%% of bare SQLite)\n", agent_median,
                100.0 * agent_median / bare_median);
    std::printf("  CPU per event (load-independent): tk-agent %.2f us (all threads), bare SQLite %.2f us per row\n",
                median(agent_cpu), median(bare_cpu));
    std::printf("  agent RSS idle (after start): %ld KiB; peak under load (VmHWM): %ld KiB\n", idle_rss, peak_rss);
    if (idle_ticks >= 0) std::printf("  agent CPU over %d s idle: %ld ticks\n", idle_seconds, idle_ticks);
    std::printf("  scrubber: %.0f ns per event (5 attributes, 2 strings scrubbed)\n", scrub_ns);
    std::printf(
        "  canonical check (issue 17 item 2): %.0f ns per event (%.0f%% of these events already in key order)\n",
        canonical_ns, 100.0 * sorted_share);
    const bool ok = agent_median >= 200'000 && agent_median >= 0.55 * bare_median && idle_rss <= 20 * 1024 &&
                    peak_rss <= 64 * 1024 && idle_ticks <= 0;
    std::printf("  targets (>= 200000/s, >= 55%% of bare, RSS <= 20/64 MiB, 0 idle ticks): %s\n",
                ok ? "met" : "NOT met");
    return 0;
}
