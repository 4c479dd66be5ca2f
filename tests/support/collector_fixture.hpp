#pragma once
/// A throwaway PostgreSQL cluster with the real tk-collector serving over it on a free port of
/// 127.0.0.1. For the collector's own tests and the end-to-end tests.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/postgres.hpp"
#include "support/process.hpp"

namespace tk::test {

class CollectorFixture {
public:
    /// Starts PostgreSQL, then `tk-collector serve --listen 127.0.0.1:PORT --database-url URL
    /// <extra_args...>` and waits (10 s) until it says it is listening. With "--tls-cert" among
    /// the extra arguments, base_url() is https://. Throws std::runtime_error (with the
    /// collector's log) if it does not come up.
    explicit CollectorFixture(std::vector<std::string> extra_args = {});
    /// Kills the collector, then removes the cluster.
    ~CollectorFixture();
    CollectorFixture(const CollectorFixture&) = delete;
    CollectorFixture& operator=(const CollectorFixture&) = delete;

    /// "http://127.0.0.1:PORT" (or https://); the port stays the same across stop()/start().
    std::string base_url() const;
    unsigned short port() const { return port_; }
    std::string database_url() const { return postgres_.url(); }

    /// Runs `tk-collector keys create --tool TOOL` and returns the plain key. Throws on failure.
    std::string create_key(const std::string& tool) const;
    /// SQL through psql, unaligned and tuples-only (PostgresCluster::query).
    std::string query(const std::string& sql) const { return postgres_.query(sql); }
    /// Rows of `events` matching the SQL condition `where`.
    long long count_events(const std::string& where = "true") const {
        return std::stoll(query("SELECT count(*) FROM events WHERE " + where));
    }
    /// Runs `tk-collector <args...> --database-url URL` to completion.
    RunResult run_command(std::vector<std::string> args) const;

    /// (Re)starts the collector with the same arguments and waits until it listens.
    void start();
    /// SIGTERM and wait; returns its exit code (-1 if it was not running).
    int stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));
    bool running();
    /// The collector's stderr (its log) since the last start().
    std::string log() const;
    /// The collector process (nullptr when stopped).
    ChildProcess* process() { return process_ ? &*process_ : nullptr; }

    /// The cluster, e.g. to stop() and start() PostgreSQL under a running collector.
    PostgresCluster& postgres() { return postgres_; }

private:
    TempDir dir_{"tk-collector-"};
    PostgresCluster postgres_;
    std::vector<std::string> extra_args_;
    unsigned short port_ = 0;
    bool tls_ = false;
    int starts_ = 0;
    std::optional<ChildProcess> process_;
};

}  // namespace tk::test
