#include "chaos/haproxy.hpp"

#include <poll.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tk/common/unix_socket.hpp"

namespace tk::test {

namespace {

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

/// The fields of one CSV line (HAProxy's stats have no quoted commas).
std::vector<std::string> split_csv(const std::string& line) {
    std::vector<std::string> fields;
    std::stringstream in(line);
    std::string field;
    while (std::getline(in, field, ',')) fields.push_back(field);
    return fields;
}

/// Sends one command to the stats socket and reads the answer to EOF (2 s at most).
std::string stats_command(const fs::path& socket, const std::string& command) {
    const int fd = tk::unix_socket::connect_stream(socket);
    if (fd < 0) return {};
    std::string answer;
    if (tk::unix_socket::send_all(fd, command + "\n")) {
        pollfd p{fd, POLLIN, 0};
        char buffer[4096];
        while (::poll(&p, 1, 2000) > 0) {
            const ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n <= 0) break;
            answer.append(buffer, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return answer;
}

/// The column `name` of `server` in the backend `collectors` of a `show stat` answer.
std::string server_field(const std::string& csv, const std::string& server, const std::string& name) {
    std::stringstream in(csv);
    std::string line;
    std::size_t column = std::string::npos;
    while (std::getline(in, line)) {
        const auto fields = split_csv(line);
        if (line.rfind("# ", 0) == 0) {
            for (std::size_t i = 0; i < fields.size(); ++i) {
                if (fields[i] == name) column = i;
            }
        } else if (column != std::string::npos && fields.size() > column && fields[0] == "collectors" &&
                   fields[1] == server) {
            return fields[column];
        }
    }
    return {};
}

}  // namespace

std::string haproxy_config(unsigned short listen_port, const fs::path& stats_socket,
                           const std::vector<Backend>& backends) {
    std::ostringstream c;
    c << "global\n"
         "  maxconn 256\n"
         "  stats socket "
      << stats_socket.string()
      << " mode 600 level user\n"
         "defaults\n"
         "  mode http\n"
         "  timeout connect 1s\n"
         "  timeout client 30s\n"
         "  timeout server 30s\n"
         "  timeout http-keep-alive 5s\n"
         "  retries 3\n"
         "  option redispatch 1\n"
         "frontend ingest\n"
         "  bind 127.0.0.1:"
      << listen_port
      << "\n"
         "  default_backend collectors\n"
         "backend collectors\n"
         "  balance roundrobin\n"
         "  option httpchk GET /healthz\n"
         "  http-check expect status 200\n"
         "  default-server inter 100ms fall 2 rise 2\n";
    for (const auto& backend : backends) {
        c << "  server " << backend.name << " 127.0.0.1:" << backend.port << " check\n";
    }
    return c.str();
}

HaProxy::HaProxy(std::vector<Backend> backends) {
    if (::access(kHaproxy, X_OK) != 0) {
        throw std::runtime_error(std::string(kHaproxy) +
                                 " not found: apt-get install haproxy (scripts/install-deps.sh)");
    }
    port_ = free_tcp_port();
    const fs::path config = dir_ / "haproxy.cfg";
    std::ofstream(config) << haproxy_config(port_, dir_ / "stats.sock", backends);

    ProcessOptions check;
    check.argv = {kHaproxy, "-c", "-q", "-f", config.string()};
    if (const auto checked = run(check, 30s); checked.exit_code != 0) {
        throw std::runtime_error("haproxy -c refused the config:\n" + checked.out + checked.err);
    }
    ProcessOptions options;
    options.argv = {kHaproxy, "-db", "-f", config.string()};  // -db: foreground, so we own the process
    options.stdout_file = dir_ / "haproxy.out";
    options.stderr_file = dir_ / "haproxy.log";
    process_.emplace(options);
    if (!wait_for_tcp_port(port_, 20s) || !wait_for_unix_socket(dir_ / "stats.sock", 20s)) {
        throw std::runtime_error("haproxy did not start:\n" + log());
    }
}

HaProxy::~HaProxy() {
    if (process_) process_->stop(5s);
}

std::string HaProxy::status(const std::string& server) const {
    return server_field(stats_command(dir_ / "stats.sock", "show stat"), server, "status");
}

long long HaProxy::sessions(const std::string& server) const {
    const std::string total = server_field(stats_command(dir_ / "stats.sock", "show stat"), server, "stot");
    return total.empty() ? -1 : std::stoll(total);
}

bool HaProxy::wait_for(const std::string& server, const std::string& state, std::chrono::milliseconds deadline) const {
    return wait_until([&] { return status(server) == state; }, deadline);
}

}  // namespace tk::test
