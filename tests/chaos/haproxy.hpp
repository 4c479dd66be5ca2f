#pragma once
/// HAProxy (Debian's `haproxy` package) in front of several tk-collectors, for the chaos run:
/// a generated config on loopback ports, health checks on the collectors' GET /healthz, and the
/// servers' states read back from HAProxy's stats socket.

#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace tk::test {

/// One backend server: its name in the config and its port on 127.0.0.1.
struct Backend {
    std::string name;
    unsigned short port = 0;
};

/// The config HAProxy runs with (pure: the test's decisions in one place). HTTP mode, round robin,
/// a health check of GET /healthz every 100 ms (two failures mark a server DOWN, two successes UP),
/// failed connects redispatched to another server, and no access log (the collector never keeps
/// a client's address, so neither does its load balancer).
std::string haproxy_config(unsigned short listen_port, const fs::path& stats_socket,
                           const std::vector<Backend>& backends);

class HaProxy {
public:
    /// Writes the config into a temp dir, checks it (haproxy -c), starts haproxy in the
    /// foreground and waits until it accepts connections. Throws std::runtime_error (with
    /// HAProxy's output) if it is not installed or does not come up.
    explicit HaProxy(std::vector<Backend> backends);
    /// Stops HAProxy.
    ~HaProxy();
    HaProxy(const HaProxy&) = delete;
    HaProxy& operator=(const HaProxy&) = delete;

    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    /// The server's status as HAProxy's stats say it ("UP", "DOWN", "UP 1/2", ...), "" if unknown.
    std::string status(const std::string& server) const;
    /// Connections HAProxy has sent to the server so far (its `stot`), -1 if unknown.
    long long sessions(const std::string& server) const;
    /// Waits (deadline) until `server`'s status starts with `state` ("UP" or "DOWN").
    bool wait_for(const std::string& server, const std::string& state, std::chrono::milliseconds deadline = 20s) const;
    std::string log() const { return read_file(dir_ / "haproxy.log"); }

private:
    TempDir dir_{"tk-haproxy-"};
    unsigned short port_ = 0;
    std::optional<ChildProcess> process_;
};

}  // namespace tk::test
