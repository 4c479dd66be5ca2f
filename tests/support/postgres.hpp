#pragma once
/// A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl from Debian's
/// `postgresql` package, in a temp dir, listening only on a Unix socket in that dir. Run as the
/// `postgres` user when we are root (PostgreSQL refuses to run as root).

#include <filesystem>
#include <memory>
#include <string>

#include "support/process.hpp"

namespace tk::test {

class PostgresCluster {
public:
    /// initdb and start. Throws std::runtime_error (with PostgreSQL's log) on failure.
    PostgresCluster();
    /// A cluster in `keep_dir` that outlives this object (benchmarks that load once and run many
    /// times): initdb only if the directory holds no cluster yet, then start; the destructor stops
    /// it and leaves the directory.
    explicit PostgresCluster(const std::filesystem::path& keep_dir);
    /// Stops the server (immediate) and removes the cluster.
    ~PostgresCluster();
    PostgresCluster(const PostgresCluster&) = delete;
    PostgresCluster& operator=(const PostgresCluster&) = delete;

    /// libpq connection URI for database `dbname` (default: the `postgres` database).
    std::string url(const std::string& dbname = "postgres") const;
    /// Key/value connection string, for tools that want one.
    std::string conninfo(const std::string& dbname = "postgres") const;

    void start();
    /// Stop with pg_ctl's mode: "fast" (default) or "immediate" (like a crash).
    void stop(const std::string& mode = "fast");
    void restart() {
        stop();
        start();
    }
    bool running() const { return running_; }

    /// Runs SQL through psql and returns its unaligned, tuples-only output (trimmed).
    /// Throws on failure.
    std::string query(const std::string& sql, const std::string& dbname = "postgres") const;

    const std::filesystem::path& socket_dir() const { return dir_; }
    unsigned short port() const { return port_; }

private:
    ProcessOptions as_owner(std::vector<std::string> argv) const;
    /// Picks the user to run as and owns `dir_` by it; initdb when `dir_` has no cluster; starts.
    void set_up();

    std::filesystem::path dir_;
    std::filesystem::path bin_;
    std::string user_ = "postgres";
    std::optional<std::string> run_as_;
    unsigned short port_ = 0;
    bool running_ = false;
    bool keep_ = false;
};

/// Path of the PostgreSQL server binaries (newest /usr/lib/postgresql/<ver>/bin).
std::filesystem::path postgres_bin_dir();

}  // namespace tk::test
