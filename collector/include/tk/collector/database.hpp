#pragma once
/// PostgreSQL through libpq: a connection, its results, and a small pool of connections that
/// reconnects by itself after the database went away.

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tk::collector {

/// A failed database operation. `connection_lost` tells an outage (answer 503, retry later)
/// from an SQL error (a bug or a constraint: answer 500). Thrown only on failure paths.
class DatabaseError : public std::runtime_error {
public:
    DatabaseError(const std::string& message, bool connection_lost, std::string sqlstate = {})
        : std::runtime_error(message), connection_lost_(connection_lost), sqlstate_(std::move(sqlstate)) {}
    bool connection_lost() const noexcept { return connection_lost_; }
    const std::string& sqlstate() const noexcept { return sqlstate_; }
    /// Worth retrying later (answer 503): an outage, a statement or lock timeout, a serialization
    /// failure or deadlock, the server out of resources.
    bool transient() const noexcept {
        return connection_lost_ || sqlstate_ == "55P03" || sqlstate_ == "57014" || sqlstate_ == "40001" ||
               sqlstate_ == "40P01" || sqlstate_.rfind("53", 0) == 0 || sqlstate_ == "timeout";
    }

private:
    bool connection_lost_;
    std::string sqlstate_;
};

/// Owns one PGresult.
class Result {
public:
    explicit Result(PGresult* result = nullptr) : result_(result, &PQclear) {}
    PGresult* get() const { return result_.get(); }
    int rows() const { return PQntuples(result_.get()); }
    /// The text value of (row, column); "" for NULL.
    std::string_view value(int row, int column) const {
        return {PQgetvalue(result_.get(), row, column),
                static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
    }
    bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
    /// Rows changed by INSERT/UPDATE/DELETE.
    long long affected() const;

private:
    std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

/// How every connection is set up, on top of the URL: server-side timeouts so no statement or
/// lock wait runs unbounded, TCP keepalives so a vanished server is noticed, and a password kept
/// off the command line.
struct ConnectionSettings {
    int statement_timeout_ms = 10000;  ///< 0: PostgreSQL's default (none)
    int lock_timeout_ms = 5000;        ///< 0: PostgreSQL's default (none)
    int keepalives_idle_s = 30;        ///< TCP keepalive: first probe after this much silence...
    int keepalives_interval_s = 10;    ///< ...then one every this many seconds...
    int keepalives_count = 3;          ///< ...and the connection is dead after this many unanswered
    std::string password;              ///< "" = from the URL, PGPASSWORD or ~/.pgpass (libpq's rules)
};

/// The libpq connection parameters for `settings` (name, value), in the order given to
/// PQconnectdbParams: the URL's own settings win over the defaults, not over the password.
std::vector<std::pair<std::string, std::string>> connection_parameters(const std::string& url,
                                                                       const ConnectionSettings& settings);

/// One libpq connection. Every statement is parameterised (never text pasted into SQL).
class Connection {
public:
    /// Connects; throws DatabaseError(connection_lost = true) if the database cannot be reached.
    explicit Connection(const std::string& url, const ConnectionSettings& settings = {});
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    PGconn* native() const { return conn_; }
    bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

    /// Runs `sql` with text parameters (no parameters: may hold several statements).
    /// Throws DatabaseError on failure.
    Result exec(const std::string& sql, const std::vector<std::string>& params = {});
    /// The same, with one binary parameter per entry of `binary` set to true.
    Result exec_params(const std::string& sql, const std::vector<std::string>& params, const std::vector<bool>& binary);
    /// Runs `sql` as this connection's prepared statement `name`, preparing it on first use: a
    /// statement run for every batch is parsed and planned once per connection, not every time.
    /// Throws DatabaseError on failure.
    Result exec_prepared(const std::string& name, const std::string& sql, const std::vector<std::string>& params);
    /// COPY ... FROM STDIN with `data` in COPY's text format. Throws DatabaseError on failure.
    void copy_in(const std::string& copy_sql, const std::string& data);
    /// The same in pieces, so that a large batch's rows need not be held all at once:
    /// copy_begin, any number of copy_put, copy_end. Each throws DatabaseError on failure.
    void copy_begin(const std::string& copy_sql);
    void copy_put(std::string_view data);
    void copy_end();
    /// COPY ... TO STDOUT: copy_out_begin, then copy_get until it returns false (the end, its
    /// final status checked). Each row comes whole, its line end included. Throw DatabaseError.
    void copy_out_begin(const std::string& copy_sql);
    bool copy_get(std::string& row);
    /// Closes the connection now (e.g. in the middle of a COPY that will not be read to its
    /// end); it is unhealthy from then on, so a pool drops it instead of reusing it.
    void abandon();

    /// Set once the per-connection temporary tables exist.
    bool staging_ready = false;

private:
    [[noreturn]] void fail(const std::string& what, PGresult* result);
    /// After a COPY's last row (either direction): its result must be success; drains the rest.
    void finish_copy();
    PGconn* conn_ = nullptr;
    std::set<std::string> prepared_;  ///< names of the statements prepared on this connection
};

/// A bounded set of connections shared by the request workers. `acquire()` hands out a Lease;
/// a lease returns its connection on destruction unless the connection broke, so after an
/// outage the next lease connects afresh.
class ConnectionPool {
public:
    ConnectionPool(std::string url, std::size_t max_connections, ConnectionSettings settings = {});
    ~ConnectionPool();

    class Lease {
    public:
        Lease(ConnectionPool& pool, std::unique_ptr<Connection> conn) : pool_(&pool), conn_(std::move(conn)) {}
        Lease(Lease&&) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        ~Lease();
        Connection& operator*() const { return *conn_; }
        Connection* operator->() const { return conn_.get(); }

    private:
        ConnectionPool* pool_;
        std::unique_ptr<Connection> conn_;
    };

    /// A connection: an idle one, else a new one (up to the maximum), else waits for one, but
    /// not past `deadline` (then DatabaseError with sqlstate "timeout": transient).
    /// `fresh` = never reuse an idle connection (after one just failed). Throws DatabaseError
    /// (connection_lost) if no connection can be made.
    Lease acquire(bool fresh = false,
                  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
    /// Closes the idle connections and refuses new leases.
    void close();
    const std::string& url() const { return url_; }

private:
    void give_back(std::unique_ptr<Connection> conn);

    std::string url_;
    ConnectionSettings settings_;
    std::size_t max_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;  // leased + idle
    bool closed_ = false;
};

/// Runs `job(connection)`; if the connection turns out to be dead (e.g. PostgreSQL restarted
/// since it was pooled), runs it once more on a fresh connection. Jobs must be idempotent.
template <class Job>
auto with_connection(ConnectionPool& pool, Job&& job,
                     std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) {
    try {
        auto lease = pool.acquire(false, deadline);
        return job(*lease);
    } catch (const DatabaseError& error) {
        if (!error.connection_lost()) throw;
    }
    auto lease = pool.acquire(/*fresh=*/true, deadline);
    return job(*lease);
}

/// Runs `work()` with session settings in force: `set` ("SET a = x; SET b = y", one round trip)
/// before, `reset` ("RESET a; RESET b") after — also when it throws a DatabaseError and the
/// connection still works, so that a pooled connection goes back as it came.
template <class Work>
auto with_session_settings(Connection& conn, const char* set, const char* reset, Work&& work) {
    conn.exec(set);
    try {
        auto result = work();
        conn.exec(reset);
        return result;
    } catch (const DatabaseError&) {
        if (conn.healthy()) conn.exec(reset);
        throw;
    }
}

}  // namespace tk::collector
