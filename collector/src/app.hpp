#pragma once
// Internal to the collector library: what the routes and sessions share.

#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <functional>

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

struct App {
    App(ServerConfig config_in, ConnectionPool& pool_in)
        : config(std::move(config_in)),
          pool(pool_in),
          key_limiter(config.rate_limit, config.rate_burst),
          address_limiter(config.address_rate_limit, config.address_rate_burst),
          lookup_limiter(config.key_lookup_rate_limit, config.key_lookup_rate_burst),
          keys(KeyCache::Settings{}),
          db_workers(config.db_workers == 0 ? 1 : config.db_workers) {}

    ServerConfig config;
    ConnectionPool& pool;
    Metrics metrics;
    RateLimiter key_limiter;      // per (valid key, client address)
    RateLimiter address_limiter;  // per client address, all requests that name a key
    RateLimiter lookup_limiter;   // per client address, keys not in the cache (database lookups)
    KeyCache keys;
    PartitionCache partitions;
    boost::asio::thread_pool db_workers;  // blocking libpq work runs here, never on I/O threads
    std::atomic<bool> stopping{false};
    std::atomic<int> in_flight{0};        // requests read and not yet fully answered
    std::atomic<std::size_t> connections{0};     // open sessions
    std::atomic<std::size_t> buffered_bytes{0};  // request bodies, from their headers to their answers
    std::atomic<std::size_t> queued_bytes{0};  // batches waiting for or in database work: wire + parsed size
};

/// Which listener a request came in on: the main one, or --metrics-listen's.
enum class Listen { main, metrics };

/// Routes one request; `respond` is called exactly once, possibly from a database worker.
/// `client_address` (the peer's address bytes) is only ever a rate limiter's bucket name: it is
/// never logged or stored.
/// With --metrics-listen, /metrics is served only there, and only /metrics and /healthz are.
void route_request(App& app, Listen listen, Request&& request, const std::string& client_address, Respond respond);

/// The metrics label of a request target: "batches", "subjects", "healthz", "query", "metrics",
/// "tools", "cohorts", "dashboard" or "other".
const char* route_label(std::string_view target);

/// A plain-text response (errors and small answers).
Response text_response(unsigned version, http::status status, std::string body);

}  // namespace tk::collector::detail
