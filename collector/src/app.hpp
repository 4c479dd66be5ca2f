#pragma once
// Internal to the collector library: what the routes and sessions share.

#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <functional>
#include <memory>

#include "manifest_route.hpp"
#include "tk/collector/database.hpp"
#include "tk/collector/ingest.hpp"
#include "tk/collector/key_cache.hpp"
#include "tk/collector/metrics.hpp"
#include "tk/collector/rate_limiter.hpp"
#include "tk/collector/server.hpp"

namespace tk::collector::detail {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
/// Hands the response back to its session; callable from any thread, exactly once.
using Respond = std::function<void(Response)>;

/// A response whose body is written in pieces (chunked transfer encoding) by a worker thread, one
/// piece in flight at a time: write() waits (bounded by --export-write-timeout) until the piece
/// before has been written, so the worker produces no faster than the client reads. Every call
/// returns false once the client is gone, too slow, or the server stops; the worker then stops.
class BodyStream {
public:
    virtual ~BodyStream() = default;
    /// Sends the head (its status and headers; chunked is set here). False if the request was
    /// answered already (its deadline passed) or the client is gone.
    virtual bool begin(http::response_header<> head) = 0;
    /// Queues one piece once the previous one is written.
    virtual bool write(std::string piece) = 0;
    /// Ends the body: the last chunk when `complete` (the connection may be kept alive), else the
    /// connection is closed without it, so the client sees a cut-off body, never a short one that
    /// looks whole. Waits for the end to be written (bounded).
    virtual void end(bool complete) = 0;
};
/// Makes the request's stream; called at most once, on the I/O thread.
using OpenStream = std::function<std::shared_ptr<BodyStream>()>;

struct App {
    App(ServerConfig config_in, ConnectionPool& pool_in, ConnectionPool& read_pool_in)
        : config(std::move(config_in)),
          pool(pool_in),
          read_pool(read_pool_in),
          key_limiter(config.rate_limit, config.rate_burst),
          address_limiter(config.address_rate_limit, config.address_rate_burst),
          lookup_limiter(config.key_lookup_rate_limit, config.key_lookup_rate_burst),
          keys(KeyCache::Settings{}),
          db_workers(config.db_workers == 0 ? 1 : config.db_workers),
          export_workers(config.max_exports == 0 ? 1 : config.max_exports) {}

    ServerConfig config;
    ConnectionPool& pool;       // the primary: ingest, erasure, keys, health
    ConnectionPool& read_pool;  // --query-database-url (a replica), else the primary: queries, exports
    Metrics metrics;
    RateLimiter key_limiter;      // per (valid key, client address)
    RateLimiter address_limiter;  // per client address, all requests that name a key
    RateLimiter lookup_limiter;   // per client address, keys not in the cache (database lookups)
    KeyCache keys;
    ManifestCache manifests;  // GET /v1/tools/{tool}/manifest
    PartitionCache partitions;
    boost::asio::thread_pool db_workers;      // blocking libpq work runs here, never on I/O threads
    boost::asio::thread_pool export_workers;  // one thread per running export (it waits on its client)
    std::atomic<unsigned> exports{0};         // exports admitted and not finished (<= max_exports)
    std::atomic<bool> stopping{false};
    std::atomic<bool> io_stopped{false};         // the I/O threads are gone: no write will complete any more
    std::atomic<int> in_flight{0};               // requests read and not yet fully answered
    std::atomic<std::size_t> connections{0};     // open sessions
    std::atomic<std::size_t> buffered_bytes{0};  // request bodies, from their headers to their answers
    std::atomic<std::size_t> queued_bytes{0};    // batches waiting for or in database work: wire + parsed size
};

/// Which listener a request came in on: the main one, or --metrics-listen's.
enum class Listen { main, metrics };

/// Routes one request; `respond` is called exactly once, possibly from a database worker.
/// `client_address` (the peer's address bytes) is only ever a rate limiter's bucket name: it is
/// never logged or stored.
/// With --metrics-listen, /metrics is served only there, and only /metrics and /healthz are.
/// `open_stream` gives a streamed answer instead (GET /v1/export); then `respond` is not called
/// once the stream has begun.
void route_request(App& app, Listen listen, Request&& request, const std::string& client_address, Respond respond,
                   OpenStream open_stream);

/// GET /v1/tools/{tool}/manifest and .../manifest/history (manifest_route.cpp).
/// `tool` is the path's segment, still percent-encoded.
void get_manifest(App& app, const Request& request, const std::string& tool, bool history,
                  const std::string& client_address, Respond respond);

/// GET /v1/export (export_route.cpp).
void get_export(App& app, const Request& request, Respond respond, const OpenStream& open_stream);

/// The metrics label of a request target: "batches", "subjects", "healthz", "query", "metrics",
/// "tools", "manifest", "cohorts", "dashboard" or "other".
const char* route_label(std::string_view target);

/// A plain-text response (errors and small answers).
Response text_response(unsigned version, http::status status, std::string body);

}  // namespace tk::collector::detail
