#include "support/postgres.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace tk::test {

fs::path postgres_bin_dir() {
    if (const char* override_dir = std::getenv("TK_PG_BIN"); override_dir && *override_dir) return override_dir;
    std::vector<fs::path> candidates;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        if (fs::exists(entry.path() / "bin" / "initdb")) candidates.push_back(entry.path() / "bin");
    }
    if (candidates.empty())
        throw std::runtime_error("no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)");
    std::sort(candidates.begin(), candidates.end(), [](const fs::path& a, const fs::path& b) {
        return std::stoi(a.parent_path().filename().string()) < std::stoi(b.parent_path().filename().string());
    });
    return candidates.back();
}

ProcessOptions PostgresCluster::as_owner(std::vector<std::string> argv) const {
    ProcessOptions options;
    options.argv = std::move(argv);
    options.run_as_user = run_as_;
    options.cwd = dir_;
    options.env = {{"LC_ALL", "C"}, {"LANG", "C"}, {"PGTZ", "UTC"}};
    return options;
}

PostgresCluster::PostgresCluster() {
    bin_ = postgres_bin_dir();
    const char* base = std::getenv("TMPDIR");
    std::string pattern = (fs::path(base && *base ? base : "/tmp") / "tk-pg-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    set_up();
}

PostgresCluster::PostgresCluster(const fs::path& keep_dir) : keep_(true) {
    bin_ = postgres_bin_dir();
    fs::create_directories(keep_dir);
    dir_ = fs::absolute(keep_dir);
    set_up();
}

void PostgresCluster::set_up() {
    if (::geteuid() == 0) {
        run_as_ = "postgres";
        const passwd* pw = ::getpwnam("postgres");
        if (pw == nullptr) throw std::runtime_error("running as root but there is no postgres user");
        if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown failed");
    } else if (const passwd* pw = ::getpwuid(::geteuid())) {
        user_ = pw->pw_name;
    }
    port_ = free_tcp_port();
    if (fs::exists(dir_ / "data" / "PG_VERSION")) return start();
    const auto result = run(as_owner({(bin_ / "initdb").string(), "-D", (dir_ / "data").string(), "-U", user_,
                                      "--auth=trust", "--encoding=UTF8", "--no-sync", "-N"}),
                            120s);
    if (result.exit_code != 0) {
        throw std::runtime_error("initdb failed: " + result.out + result.err);
    }
    start();
}

PostgresCluster::~PostgresCluster() {
    try {
        if (running_) stop(keep_ ? "fast" : "immediate");
    } catch (...) {
    }
    if (keep_) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void PostgresCluster::start() {
    const std::string server_options = "-k " + dir_.string() + " -p " + std::to_string(port_) +
                                       " -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
                                       " -c full_page_writes=off -c max_connections=200";
    const auto result = run(as_owner({(bin_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-l",
                                      (dir_ / "server.log").string(), "-o", server_options, "-w", "-t", "60", "start"}),
                            90s);
    if (result.exit_code != 0) {
        throw std::runtime_error("pg_ctl start failed: " + result.out + result.err + read_file(dir_ / "server.log"));
    }
    running_ = true;
}

void PostgresCluster::stop(const std::string& mode) {
    const auto result =
        run(as_owner({(bin_ / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-m", mode, "-w", "stop"}), 60s);
    running_ = false;
    if (result.exit_code != 0) throw std::runtime_error("pg_ctl stop failed: " + result.out + result.err);
}

std::string PostgresCluster::url(const std::string& dbname) const {
    return "postgresql://" + user_ + "@/" + dbname + "?host=" + dir_.string() + "&port=" + std::to_string(port_);
}

std::string PostgresCluster::conninfo(const std::string& dbname) const {
    return "host=" + dir_.string() + " port=" + std::to_string(port_) + " user=" + user_ + " dbname=" + dbname;
}

std::string PostgresCluster::query(const std::string& sql, const std::string& dbname) const {
    ProcessOptions options;
    options.argv = {(bin_ / "psql").string(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                    conninfo(dbname),         "-c", sql};
    const auto result = run(options, 60s);
    if (result.exit_code != 0) throw std::runtime_error("psql failed: " + result.err);
    std::string out = result.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

}  // namespace tk::test
