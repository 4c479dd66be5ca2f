// The routes: one small function each. Database work is posted to App::db_workers; everything
// else runs on the session's I/O thread.
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "app.hpp"
#include "dashboard_routes.hpp"
#include "tk/collector/batch_scan.hpp"
#include "tk/collector/keys.hpp"
#include "tk/collector/percent_decode.hpp"
#include "tk/collector/query.hpp"
#include "tk/collector/route.hpp"
#include "tk/collector/tokens.hpp"

namespace tk::collector::detail {

namespace {

using Clock = std::chrono::steady_clock;
using telemetry_kit::v1::Batch;

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

bool is_json(const Request& request) {
    const auto type = request[http::field::content_type];
    return type.size() >= 16 && boost::beast::iequals(type.substr(0, 16), "application/json");
}

/// The key from "Authorization: Bearer <key>", or "" if absent or malformed.
std::string bearer_key(const Request& request) {
    const auto header = request[http::field::authorization];
    if (header.size() <= 7 || !boost::beast::iequals(header.substr(0, 7), "Bearer ")) return {};
    auto key = header.substr(7);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    return std::string(key);
}

Response unavailable(App& app, unsigned version) {
    auto response = text_response(version, http::status::service_unavailable, "database unavailable or slow\n");
    response.set(http::field::retry_after, std::to_string(app.config.unavailable_retry_after));
    return response;
}

Response too_many_requests(unsigned version, int retry_after) {
    auto response = text_response(version, http::status::too_many_requests, "rate limit exceeded\n");
    response.set(http::field::retry_after, std::to_string(retry_after));
    return response;
}

/// Runs `job` on a database worker; DatabaseError becomes 503 (outage) or 500 (anything else).
/// How long a database worker may wait for a pooled connection.
Clock::time_point db_deadline(const App& app) { return Clock::now() + app.config.request_timeout; }

/// A job that waited in the queue past the request's deadline is answered 503 without being
/// run (its client has had a 503 from its session already).
template <class Job>
void run_db_job(App& app, unsigned version, Respond respond, Job job) {
    const auto deadline = Clock::now() + app.config.request_timeout;
    boost::asio::post(
        app.db_workers, [&app, version, deadline, respond = std::move(respond), job = std::move(job)]() mutable {
            try {
                if (Clock::now() >= deadline) return respond(unavailable(app, version));
                respond(job());
            } catch (const DatabaseError& error) {
                app.metrics.count_db_error();
                spdlog::warn("database: {}", error.what());
                respond(error.transient()
                            ? unavailable(app, version)
                            : text_response(version, http::status::internal_server_error, "database error\n"));
            } catch (const std::exception& error) {
                spdlog::error("request failed: {}", error.what());
                respond(text_response(version, http::status::internal_server_error, "internal error\n"));
            }
        });
}

Response unauthorized(unsigned version) {
    auto response = text_response(version, http::status::unauthorized, "unknown or revoked ingest key\n");
    response.set(http::field::www_authenticate, "Bearer");
    return response;
}

/// Checks the key's presence, what the cache knows of it, and the rates; on failure returns the
/// response to send. Cheapest first, and no bucket is made for a name an abuser can invent: a
/// made-up key is either cached as unknown (401) or costs a lookup token of its address.
std::optional<Response> admit(App& app, const Request& request, const std::string& key, const std::string& hash,
                              const std::string& address) {
    const unsigned version = request.version();
    if (key.empty()) {
        auto response = text_response(version, http::status::unauthorized, "missing ingest key\n");
        response.set(http::field::www_authenticate, "Bearer");
        return response;
    }
    if (const int wait = app.address_limiter.acquire(address); wait > 0) return too_many_requests(version, wait);
    const auto known = app.keys.find(hash);
    if (known && !known->valid) return unauthorized(version);
    // A valid key's bucket is per client address too, so one holder of the (public) key cannot
    // drain it for everyone else.
    const int wait = known ? app.key_limiter.acquire(hash + address) : app.lookup_limiter.acquire(address);
    if (wait > 0) return too_many_requests(version, wait);
    return std::nullopt;
}

/// Holds bytes of App::queued_bytes (batches waiting for or in database work: their wire bytes,
/// then also their parsed size) until destroyed. Bounds the memory that queued batches take when
/// PostgreSQL is slower than the clients: past the bound, batches get 503 (retry later) instead
/// of a place in the queue. A batch that finds the queue empty is always admitted.
class QueuedBytes {
public:
    explicit QueuedBytes(App& app) : app_(app) {}
    ~QueuedBytes() { app_.queued_bytes -= bytes_; }
    QueuedBytes(const QueuedBytes&) = delete;
    QueuedBytes& operator=(const QueuedBytes&) = delete;

    /// Adds `bytes` to the reservation; false (and nothing added) if that would pass the bound.
    bool add(std::size_t bytes) {
        const std::size_t before = app_.queued_bytes.fetch_add(bytes);
        if (before == bytes_ || before + bytes <= app_.config.max_queued_bytes) {
            bytes_ += bytes;
            return true;
        }
        app_.queued_bytes -= bytes;
        return false;
    }

private:
    App& app_;
    std::size_t bytes_ = 0;
};

Response overloaded(unsigned version) {
    auto response = text_response(version, http::status::service_unavailable, "overloaded, retry later\n");
    response.set(http::field::retry_after, "1");
    return response;
}

/// The key's tool, from the cache or else the database (and then cached); nullopt if the key is
/// unknown or revoked.
std::optional<std::string> key_tool(App& app, const std::string& hash, const std::string& address) {
    if (const auto known = app.keys.find(hash)) return known->valid ? std::optional(known->tool) : std::nullopt;
    const auto key = with_connection(
        app.pool, [&](Connection& conn) { return find_key(conn, hash); }, db_deadline(app));
    if (!key) {
        app.keys.remember_unknown(hash);
        return std::nullopt;
    }
    app.keys.remember_valid(hash, key->tool);
    (void)app.key_limiter.acquire(hash + address);  // this request counts for the key too (admitted on a lookup token)
    return key->tool;
}

/// Stores a parsed batch; nullopt if the key was revoked meanwhile (checked in the same round).
std::optional<StoreOutcome> store(App& app, const Batch& batch, const std::string& hash) {
    for (int attempt = 0;; ++attempt) {
        try {
            return with_connection(
                app.pool,
                [&](Connection& conn) -> std::optional<StoreOutcome> {
                    const auto ingest_key = find_key(conn, hash);
                    if (!ingest_key) return std::nullopt;
                    return store_batch(conn, app.partitions, batch, ingest_key->tool, app.config.field_limits,
                                       app.config.retention_days);
                },
                db_deadline(app));
        } catch (const DatabaseError& error) {
            // A partition dropped by retention (or by hand) under our cache: once more, afresh.
            if (attempt > 0 || error.sqlstate() != "23514") throw;
        }
    }
}

Response ack_response(App& app, unsigned version, bool json, const StoreOutcome& outcome) {
    const auto& ack = outcome.ack;
    app.metrics.count_events(static_cast<std::uint64_t>(ack.accepted_size()),
                             static_cast<std::uint64_t>(ack.duplicate_size()));
    for (const auto& [code, count] : outcome.rejected_by_code) app.metrics.count_rejected(code, count);
    Response response{http::status::ok, version};
    if (json) {
        google::protobuf::util::JsonPrintOptions options;
        (void)google::protobuf::util::MessageToJsonString(ack, &response.body(), options);
        response.set(http::field::content_type, "application/json");
    } else {
        ack.SerializeToString(&response.body());
        response.set(http::field::content_type, "application/x-protobuf");
    }
    return response;
}

/// A batch on its database worker, cheapest refusals first: the key (cached), then the events
/// counted and the parsed size estimated from the wire bytes, and only then parsing and storing.
Response ingest(App& app, unsigned version, bool json, std::string& body, QueuedBytes& reservation,
                const std::string& hash, const std::string& address) {
    const auto tool = key_tool(app, hash, address);
    if (!tool) return unauthorized(version);
    std::string converted;
    if (json) {
        if (auto error = batch_json_to_wire(body, converted))
            return text_response(version, http::status::bad_request, *error);
        std::string().swap(body);
    }
    const std::string& wire = json ? converted : body;
    BatchShape shape;
    if (auto error = scan_batch(wire, app.config.max_events, shape)) {
        return text_response(version, http::status::bad_request, std::move(*error));
    }
    if (shape.parsed_bytes > app.config.max_parsed_bytes) {
        return text_response(version, http::status::payload_too_large,
                             fmt::format("batch too large once parsed: about {} bytes (at most {})\n",
                                         shape.parsed_bytes, app.config.max_parsed_bytes));
    }
    if (!reservation.add(shape.parsed_bytes)) return overloaded(version);
    auto batch = std::make_unique<Batch>();
    if (auto error = parse_scanned_batch(wire, json, *batch)) {
        return text_response(version, http::status::bad_request, std::move(*error));
    }
    std::string().swap(body);
    std::string().swap(converted);
    const auto outcome = store(app, *batch, hash);
    if (!outcome) return unauthorized(version);
    if (outcome->used_this_month) app.metrics.set_tool_usage(*tool, *outcome->used_this_month, outcome->monthly_quota);
    if (outcome->ack.has_quota_exceeded()) app.metrics.count_quota_exceeded(*tool);
    return ack_response(app, version, json, *outcome);
}

void post_batch(App& app, Request&& request, const std::string& address, Respond respond) {
    const std::string key = bearer_key(request);
    std::string hash = hash_key(key);
    // A key already known to be bogus costs nothing more: no queue, no parse, no database.
    if (auto refusal = admit(app, request, key, hash, address)) return respond(std::move(*refusal));
    const unsigned version = request.version();

    const bool json = is_json(request);
    auto reservation = std::make_shared<QueuedBytes>(app);
    if (!reservation->add(request.body().size())) return respond(overloaded(version));
    // Parsed on the worker: a queued batch holds only its compact wire form.
    auto body = std::make_shared<std::string>(std::move(request.body()));

    const auto started = Clock::now();
    run_db_job(app, version, std::move(respond),
               [&app, version, json, started, body, reservation, hash = std::move(hash), address] {
                   Response response = ingest(app, version, json, *body, *reservation, hash, address);
                   if (response.result() == http::status::ok) {
                       app.metrics.observe_batch_seconds(std::chrono::duration<double>(Clock::now() - started).count());
                   }
                   return response;
               });
}

void delete_subject(App& app, Request&& request, std::string_view encoded_id, const std::string& address,
                    Respond respond) {
    const unsigned version = request.version();
    const auto anonymous_id = percent_decode(encoded_id, UrlPart::path_segment);
    if (!anonymous_id || anonymous_id->empty() || anonymous_id->size() > app.config.field_limits.anonymous_id ||
        anonymous_id->find('\0') != std::string::npos || anonymous_id->find('/') != std::string::npos ||
        !valid_utf8(*anonymous_id)) {  // PostgreSQL text would refuse it (a 500)
        return respond(text_response(version, http::status::bad_request, "malformed anonymous id\n"));
    }
    const std::string key = bearer_key(request);
    const std::string hash = hash_key(key);
    if (auto refusal = admit(app, request, key, hash, address)) return respond(std::move(*refusal));

    run_db_job(app, version, std::move(respond), [&app, version, id = *anonymous_id, hash] {
        const auto deleted = with_connection(
            app.pool,
            [&](Connection& conn) -> std::optional<long long> {
                const auto ingest_key = find_key(conn, hash);
                if (!ingest_key) return std::nullopt;
                return erase_subject(conn, ingest_key->tool, id);
            },
            db_deadline(app));
        if (!deleted) return unauthorized(version);
        Response response{http::status::ok, version};
        response.set(http::field::content_type, "application/json");
        response.body() = fmt::format("{{\"deleted\":{}}}\n", *deleted);
        return response;
    });
}

/// GET /v1/query (docs/query.md): parameters checked on the I/O thread, then on a database worker
/// the read token first (one indexed lookup) and only then the query.
void get_query(App& app, const Request& request, Respond respond) {
    const unsigned version = request.version();
    const std::string_view target(request.target().data(), request.target().size());
    const auto question = target.find('?');
    auto parsed = parse_query(question == std::string_view::npos ? std::string_view() : target.substr(question + 1));
    if (auto* error = std::get_if<std::string>(&parsed)) {
        return respond(text_response(version, http::status::bad_request, *error + "\n"));
    }
    const std::string authorization(request[http::field::authorization]);
    if (!bearer_token(authorization)) {
        return respond(text_response(version, http::status::unauthorized,
                                     "a read token is required (Authorization: Bearer tkr_...)\n"));
    }
    run_db_job(app, version, std::move(respond),
               [&app, version, authorization, params = std::get<QueryParams>(std::move(parsed))] {
                   return with_connection(
                       app.read_pool,
                       [&](Connection& conn) {
                           const ReadAuth auth = authorize_read(conn, authorization, params.tool);
                           if (auth.status != 200) {
                               return text_response(version, static_cast<http::status>(auth.status),
                                                    auth.message + "\n");
                           }
                           const QueryResult result = answer_query(conn, params);
                           if (result.status != 200)
                               return text_response(version, http::status::bad_request, result.body);
                           Response response{http::status::ok, version};
                           response.set(http::field::content_type, "application/json");
                           response.set(http::field::cache_control, "no-store");
                           response.body() = result.body;
                           return response;
                       },
                       db_deadline(app));
               });
}

/// GET /v1/tools and /v1/cohorts (dashboard_routes.hpp): a request without a read token is
/// refused at once; the rest runs on a database worker.
template <class Answer>
void get_read(App& app, const Request& request, Respond respond, Answer answer) {
    const unsigned version = request.version();
    const std::string authorization(request[http::field::authorization]);
    if (!bearer_token(authorization)) {
        return respond(text_response(version, http::status::unauthorized,
                                     "a read token is required (Authorization: Bearer tkr_...)\n"));
    }
    const std::string_view target(request.target().data(), request.target().size());
    const auto question = target.find('?');
    const std::string query(question == std::string_view::npos ? std::string_view() : target.substr(question + 1));
    run_db_job(app, version, std::move(respond), [&app, version, authorization, query, answer] {
        return with_connection(
            app.pool, [&](Connection& conn) { return answer(conn, authorization, query, version); }, db_deadline(app));
    });
}

void get_healthz(App& app, const Request& request, Respond respond) {
    const unsigned version = request.version();
    run_db_job(app, version, std::move(respond), [&app, version] {
        with_connection(
            app.pool, [](Connection& conn) { conn.exec("SELECT 1"); }, db_deadline(app));
        return text_response(version, http::status::ok, "ok\n");
    });
}

Response get_metrics(App& app, const Request& request) {
    auto response = text_response(request.version(), http::status::ok, app.metrics.render());
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    return response;
}

Response method_not_allowed(const Request& request, http::verb allow) {
    auto response = text_response(request.version(), http::status::method_not_allowed, "method not allowed\n");
    response.set(http::field::allow, http::to_string(allow));
    return response;
}

/// With --metrics-listen (`separate_metrics`), /metrics is served only on that listener, and only
/// /metrics and /healthz are served there.
bool served_on(Route route, Listen listen, bool separate_metrics) {
    if (listen == Listen::metrics) return route == Route::metrics || route == Route::healthz;
    return !(separate_metrics && route == Route::metrics);
}

}  // namespace

Response text_response(unsigned version, http::status status, std::string body) {
    Response response{status, version};
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = std::move(body);
    return response;
}

const char* route_label(std::string_view target) {
    return tk::collector::route_label(classify(http::verb::unknown, target).route);
}

void route_request(App& app, Listen listen, Request&& request, const std::string& client_address, Respond respond,
                   OpenStream open_stream) {
    const std::string_view target(request.target().data(), request.target().size());
    const RouteMatch match = classify(request.method(), target);
    const Route route = match.route;
    // Count every answer by route and status on its way out.
    Respond counted = [&app, label = tk::collector::route_label(route),
                       respond = std::move(respond)](Response response) {
        app.metrics.count_request(label, response.result_int());
        respond(std::move(response));
    };
    if (!served_on(route, listen, !app.config.metrics_host.empty())) {
        return counted(text_response(request.version(), http::status::not_found, "not found\n"));
    }
    if (route != Route::not_found && !match.method_allowed) {
        return counted(method_not_allowed(request, route_method(route)));
    }
    // One handler per route; -Wswitch flags a Route without one.
    switch (route) {
        case Route::batches: return post_batch(app, std::move(request), client_address, std::move(counted));
        case Route::subject:
            return delete_subject(app, std::move(request), std::string(match.param), client_address,
                                  std::move(counted));
        case Route::query: return get_query(app, request, std::move(counted));
        case Route::export_: return get_export(app, request, std::move(counted), open_stream);
        case Route::healthz: return get_healthz(app, request, std::move(counted));
        case Route::metrics: return counted(get_metrics(app, request));
        case Route::tools:
            return get_read(app, request, std::move(counted),
                            [](Connection& conn, const std::string& auth, const std::string&, unsigned version) {
                                return tools_response(conn, auth, version);
                            });
        case Route::cohorts: return get_read(app, request, std::move(counted), cohorts_response);
        case Route::manifest:
        case Route::manifest_history:
            return get_manifest(app, request, std::string(match.param), route == Route::manifest_history,
                                client_address, std::move(counted));
        case Route::dashboard: return counted(dashboard_response(request, path_of(target)));
        case Route::not_found: break;
    }
    counted(text_response(request.version(), http::status::not_found, "not found\n"));
}

}  // namespace tk::collector::detail
