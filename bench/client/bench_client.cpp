// bench_client: what the client costs a tool. Prints medians next to the physical limit measured
// in the same run (a bare blocking send() of a frame of the same size on a Unix socket; a bare
// append to a file), as ratios. See docs/benchmarks.md.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "telemetry_kit/client.hpp"
#include "telemetry_kit/consent.hpp"
#include "telemetry_kit/v1/agent.pb.h"
#include "tk/common/framing.hpp"
#include "tk/common/uuid.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kBatches = 40;
constexpr int kBatch = 1000;  // calls between two flushes (not timed): a busy tool
constexpr int kProcessRuns = 300;

struct Percentiles {
    double p50_ns, p99_ns;
};

Percentiles percentiles(std::vector<std::int64_t> ns) {
    std::sort(ns.begin(), ns.end());
    return {static_cast<double>(ns[ns.size() / 2]), static_cast<double>(ns[ns.size() * 99 / 100])};
}

std::int64_t since_ns(clock_type::time_point start) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start).count();
}

pid_t spawn(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
    return pid;
}

bool wait_for_socket(const fs::path& path) {
    const auto deadline = clock_type::now() + 15s;
    while (clock_type::now() < deadline) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        if (ok) return true;
        std::this_thread::sleep_for(5ms);  // a poll interval while the agent starts, not a synchronisation
    }
    return false;
}

// track_command's per-call cost, in batches separated by an (untimed) flush.
Percentiles measure_track(telemetry_kit::Stats& stats) {
    std::vector<std::int64_t> ns;
    ns.reserve(kBatches * kBatch);
    telemetry_kit::Client client({"bench-tool", "1.0.0"});
    for (int b = 0; b < kBatches + 2; ++b) {
        for (int i = 0; i < kBatch; ++i) {
            const auto start = clock_type::now();
            client.track_command("build", {{"target", "release"}}).success(true).duration_us(1200);
            if (b >= 2) ns.push_back(since_ns(start));  // the first two batches warm up
        }
        client.flush(5s);
    }
    stats = client.stats();
    return percentiles(std::move(ns));
}

// The frame track_command produces, built with the generated classes (same bytes, same size).
std::string equivalent_frame() {
    telemetry_kit::v1::ClientFrame frame;
    auto* event = frame.mutable_event();
    event->set_id(tk::to_bytes(tk::uuid_v7()));
    event->set_tool("bench-tool");
    event->set_tool_version("1.0.0");
    event->set_kind(telemetry_kit::v1::EVENT_KIND_COMMAND);
    event->set_name("build");
    event->set_timestamp_unix_ms(1'760'000'000'000);
    (*event->mutable_attributes())["target"].set_string_value("release");
    event->set_success(true);
    event->set_duration_us(1200);
    std::string bytes;
    tk::framing::append_message(bytes, frame);
    return bytes;
}

// A blocking send() of `frame` to a Unix socket whose reader drains it: the physical limit.
Percentiles measure_bare_send(const fs::path& path, const std::string& frame) {
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listener, 1);
    std::thread reader([listener] {
        const int fd = ::accept(listener, nullptr, nullptr);
        char buffer[65536];
        while (::read(fd, buffer, sizeof buffer) > 0) {
        }
        ::close(fd);
    });
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    std::vector<std::int64_t> ns;
    for (int i = 0; i < (kBatches + 2) * kBatch; ++i) {
        const auto start = clock_type::now();
        if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size())) break;
        if (i >= 2 * kBatch) ns.push_back(since_ns(start));
    }
    ::close(fd);
    reader.join();
    ::close(listener);
    return percentiles(std::move(ns));
}

struct ProcessCost {
    std::int64_t wall_ns;
    std::int64_t cpu_ns;  // user + system time of the child
};

// One run of the one-event tool with `args`.
ProcessCost run_once(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {TK_ONE_EVENT_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto start = clock_type::now();
    const pid_t pid = spawn(argv);
    int status = 0;
    rusage usage{};
    ::wait4(pid, &status, 0, &usage);
    const auto cpu = [](const timeval& t) {
        return std::int64_t{t.tv_sec} * 1'000'000'000 + std::int64_t{t.tv_usec} * 1000;
    };
    return {since_ns(start), cpu(usage.ru_utime) + cpu(usage.ru_stime)};
}

double median_us(std::vector<std::int64_t> ns) {
    std::sort(ns.begin(), ns.end());
    return static_cast<double>(ns[ns.size() / 2]) / 1000.0;
}

// Runs `variants` alternately (so drift on a shared machine hits all alike); medians in µs.
std::vector<std::pair<double, double>> process_medians(const std::vector<std::vector<std::string>>& variants) {
    for (int i = 0; i < 4; ++i) {
        for (const auto& variant : variants) run_once(variant);  // warm the page cache
    }
    std::vector<std::vector<std::int64_t>> wall(variants.size()), cpu(variants.size());
    for (int i = 0; i < kProcessRuns; ++i) {
        for (std::size_t v = 0; v < variants.size(); ++v) {
            const ProcessCost cost = run_once(variants[v]);
            wall[v].push_back(cost.wall_ns);
            cpu[v].push_back(cost.cpu_ns);
        }
    }
    std::vector<std::pair<double, double>> medians;
    for (std::size_t v = 0; v < variants.size(); ++v) medians.emplace_back(median_us(wall[v]), median_us(cpu[v]));
    return medians;
}

void process_cost(const char* label, const std::string& bare_append_file) {
    std::vector<std::vector<std::string>> variants = {{"none"}, {"telemetry"}};
    if (!bare_append_file.empty()) variants.push_back({"append", bare_append_file});
    const auto m = process_medians(variants);
    std::printf(
        "one-event process, %s (%d runs each, alternating, medians; target <= +1000 us):\n"
        "    wall %5.0f us with telemetry vs %5.0f us without: %+5.0f us\n"
        "    cpu  %5.0f us with telemetry vs %5.0f us without: %+5.0f us\n",
        label, kProcessRuns, m[1].first, m[0].first, m[1].first - m[0].first, m[1].second, m[0].second,
        m[1].second - m[0].second);
    if (m.size() > 2) {
        std::printf(
            "    physical limit, a bare open/append/close of a record in the same dir: wall %+5.0f us, cpu %+5.0f us;\n"
            "    telemetry / bare append (added wall): %.2f\n",
            m[2].first - m[0].first, m[2].second - m[0].second,
            (m[1].first - m[0].first) / std::max(1.0, m[2].first - m[0].first));
    }
}

}  // namespace

int main() {
    ::signal(SIGPIPE, SIG_IGN);
    const fs::path root = fs::temp_directory_path() / ("tk-bench-client-" + std::to_string(::getpid()));
    fs::create_directories(root / "home");
    fs::create_directories(root / "run");
    fs::permissions(root / "home", fs::perms::owner_all);
    fs::permissions(root / "run", fs::perms::owner_all);
    const fs::path socket = root / "run" / "agent.sock";
    ::setenv("TELEMETRY_KIT_HOME", (root / "home").c_str(), 1);
    ::setenv("TELEMETRY_KIT_SOCKET", socket.c_str(), 1);
    ::setenv("XDG_RUNTIME_DIR", (root / "run").c_str(), 1);
    for (const char* name : {"DO_NOT_TRACK", "TELEMETRY_KIT_DEBUG", "BENCH_TOOL_TELEMETRY_DISABLED", "CI"})
        ::unsetenv(name);

    const std::string frame = equivalent_frame();
    std::printf("client benchmark: %d calls per case (batches of %d, flushed in between), frame %zu bytes\n\n",
                kBatches * kBatch, kBatch, frame.size());

    // --- agent up ---
    const pid_t agent = spawn(
        {TK_AGENT_BINARY, "--socket", socket.string(), "--home", (root / "home").string(), "--log-level", "warn"});
    if (agent < 0 || !wait_for_socket(socket)) {
        std::fprintf(stderr, "cannot start the agent\n");
        return 1;
    }
    telemetry_kit::record_consent("bench-tool", true);
    telemetry_kit::Stats stats;
    const Percentiles up = measure_track(stats);
    const Percentiles bare = measure_bare_send(root / "run" / "bare.sock", frame);
    std::printf("agent up:     track_command p50 %6.0f ns  p99 %6.0f ns   (target p50 <= 2000, p99 <= 20000)\n",
                up.p50_ns, up.p99_ns);
    std::printf("              delivered %llu, spooled %llu, dropped %llu\n",
                static_cast<unsigned long long>(stats.delivered), static_cast<unsigned long long>(stats.spooled),
                static_cast<unsigned long long>(stats.dropped));
    std::printf("bare send():  %zu-byte frame   p50 %6.0f ns  p99 %6.0f ns\n", frame.size(), bare.p50_ns, bare.p99_ns);
    std::printf("ratio track/send: p50 %.2f  p99 %.2f\n\n", up.p50_ns / bare.p50_ns, up.p99_ns / bare.p99_ns);
    process_cost("agent up", "");
    ::kill(agent, SIGTERM);
    int status = 0;
    ::waitpid(agent, &status, 0);

    // --- agent absent: the spool ---
    fs::remove(socket);
    const Percentiles absent = measure_track(stats);
    std::printf("\nagent absent: track_command p50 %6.0f ns  p99 %6.0f ns   (target p50 <= 25000)\n", absent.p50_ns,
                absent.p99_ns);
    std::printf("              spooled %llu, dropped %llu; ratio to bare send(): p50 %.2f\n",
                static_cast<unsigned long long>(stats.spooled), static_cast<unsigned long long>(stats.dropped),
                absent.p50_ns / bare.p50_ns);
    const fs::path bare_append = root / "home" / "bare-append";
    {
        std::error_code copy_error;  // as large as the spool, in the same directory
        fs::copy_file(root / "home" / "spool", bare_append, copy_error);
    }
    process_cost("agent absent (spool)", bare_append.string());

    // --- size ---
    const fs::path stripped = root / "libtelemetry_kit.stripped.so";
    const pid_t strip = spawn({"/usr/bin/strip", "-o", stripped.string(), TK_CLIENT_LIBRARY});
    ::waitpid(strip, &status, 0);
    std::error_code ec;
    const auto size = fs::file_size(stripped, ec);
    if (!ec)
        std::printf("\nlibtelemetry_kit.so stripped: %.1f KiB (target <= 200 KiB)\n",
                    static_cast<double>(size) / 1024.0);
    fs::remove_all(root, ec);
    return 0;
}
