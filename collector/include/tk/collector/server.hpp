#pragma once
/// The HTTP(S) server: a Beast listener on a thread pool, one session per connection, the routes
/// (POST /v1/batches, DELETE /v1/subjects/{id}, GET /v1/query, GET /v1/export, GET /healthz,
/// GET /metrics), and the workers
/// that run the blocking libpq calls off the I/O threads.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tk/collector/ingest.hpp"

namespace tk::collector {

class ConnectionPool;

struct ServerConfig {
    std::string host = "127.0.0.1";
    unsigned short port = 8080;  ///< 0: any free port (the log says which)
    unsigned io_threads = 0;     ///< 0: hardware concurrency
    unsigned db_workers = 8;     ///< threads running database work = pool connections
    std::string tls_cert_file;   ///< PEM chain; with tls_key_file, the listener speaks TLS
    std::string tls_key_file;
    std::size_t max_body_bytes = 4 << 20;       ///< larger bodies: 413
    std::size_t max_events = 5000;              ///< more events in one batch: 400
    std::size_t max_connections = 512;          ///< open connections; beyond: 503 and close
    std::size_t max_buffered_bytes = 64 << 20;  ///< request bodies in memory at once; beyond: 503
    std::size_t max_queued_bytes = 32 << 20;    ///< batches queued for the database (wire + parsed); more: 503
    std::size_t max_parsed_bytes = 32 << 20;    ///< one batch's estimated parsed size; more: 413
    FieldLimits field_limits;
    double rate_limit = 200;  ///< requests per second per key and client address (<= 0: no limit)
    double rate_burst = 400;
    double address_rate_limit = 1000;  ///< requests per second per client address (<= 0: no limit)
    double address_rate_burst = 2000;
    double key_lookup_rate_limit = 5;  ///< uncached key lookups per second per client address
    double key_lookup_rate_burst = 50;
    int retention_days = 400;                 ///< 0: keep forever
    std::chrono::seconds header_timeout{10};  ///< also the keep-alive idle timeout
    std::chrono::seconds body_timeout{30};
    std::chrono::seconds shutdown_timeout{10};  ///< how long in-flight requests may take at SIGTERM
    /// From a request fully read to its answer: past it, 503 with Retry-After (the database is
    /// hung or slow), whatever the database work is still doing.
    std::chrono::seconds request_timeout{20};
    std::string metrics_host;  ///< with metrics_port: serve /metrics there only
    unsigned short metrics_port = 0;
    int unavailable_retry_after = 2;  ///< Retry-After (s) on 503
    unsigned max_exports = 2;         ///< exports streaming at once (each holds a thread and a connection); more: 503
    std::chrono::seconds export_write_timeout{30};  ///< a client must take each piece of an export within this
    std::chrono::seconds export_timeout{3600};      ///< one export's COPY at most (statement_timeout; 0: none)
};

/// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish (up to
/// `shutdown_timeout`) and returns.
class Server {
public:
    /// `read_pool` (queries and exports; a replica) defaults to `pool` (the primary). Each pool
    /// should allow db_workers connections, the read pool max_exports more.
    Server(ServerConfig config, ConnectionPool& pool, ConnectionPool* read_pool = nullptr);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds (throws std::runtime_error on failure), logs "listening on HOST:PORT", serves.
    void run();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tk::collector
