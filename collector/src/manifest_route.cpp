// GET /v1/tools/{tool}/manifest (and /history): see manifest_route.hpp for how a public route is bounded.
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "app.hpp"
#include "tk/collector/manifests.hpp"
#include "tk/collector/percent_decode.hpp"
#include "tk/common/tool_name.hpp"

namespace tk::collector::detail {

namespace {

/// How long clients and caches between may keep an answer (agents refresh every few hours).
constexpr const char* kCacheControl = "public, max-age=60";

/// `If-None-Match` names `etag` (a list, or "*").
bool not_modified(const Request& request, const std::string& etag) {
    const auto header = request[http::field::if_none_match];
    if (header.empty()) return false;
    const std::string_view value(header.data(), header.size());
    return value == "*" || value.find(etag) != std::string_view::npos;
}

Response manifest_response(const Request& request, const ManifestCache::Entry& entry) {
    const unsigned version = request.version();
    if (!entry.found) {
        auto response = text_response(version, http::status::not_found, "this tool publishes no manifest\n");
        response.set(http::field::cache_control, kCacheControl);
        return response;
    }
    Response response{not_modified(request, entry.etag) ? http::status::not_modified : http::status::ok, version};
    response.set(http::field::etag, entry.etag);
    response.set(http::field::cache_control, kCacheControl);
    response.set(http::field::access_control_allow_origin, "*");  // public: a web page may show it
    if (response.result() == http::status::ok) {
        response.set(http::field::content_type, "application/json");
        response.body() = entry.body;
    }
    return response;
}

Response too_many(unsigned version, int wait) {
    auto response = text_response(version, http::status::too_many_requests, "rate limit exceeded\n");
    response.set(http::field::retry_after, std::to_string(wait));
    return response;
}

/// Runs `job` on a database worker; a database failure is a 503 (the agent keeps its cached copy).
template <class Job>
void on_db_worker(App& app, unsigned version, Respond respond, Job job) {
    const auto deadline = std::chrono::steady_clock::now() + app.config.request_timeout;
    boost::asio::post(app.db_workers, [&app, version, deadline, respond = std::move(respond), job = std::move(job)] {
        try {
            if (std::chrono::steady_clock::now() >= deadline) throw DatabaseError("request deadline passed", true);
            respond(with_connection(app.pool, job, deadline));
        } catch (const std::exception& error) {
            app.metrics.count_db_error();
            spdlog::warn("manifest: {}", error.what());
            auto response = text_response(version, http::status::service_unavailable, "database unavailable or slow\n");
            response.set(http::field::retry_after, std::to_string(app.config.unavailable_retry_after));
            respond(std::move(response));
        }
    });
}

}  // namespace

std::optional<ManifestCache::Entry> ManifestCache::find(const std::string& tool, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    const Entry* entry = entries_.find(tool);
    if (entry == nullptr || now - entry->loaded >= fresh_) return std::nullopt;
    return *entry;
}

std::size_t ManifestCache::size() {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void ManifestCache::put(const std::string& tool, Entry entry) {
    std::lock_guard lock(mutex_);
    entries_.put(tool, std::move(entry));
}

void get_manifest(App& app, const Request& request, const std::string& encoded_tool, bool history,
                  const std::string& client_address, Respond respond) {
    const unsigned version = request.version();
    const auto tool = percent_decode(encoded_tool, UrlPart::path_segment);
    if (!tool || !tk::valid_tool_name(*tool)) {
        return respond(text_response(version, http::status::not_found, "no such tool\n"));
    }
    if (const int wait = app.address_limiter.acquire(client_address); wait > 0) return respond(too_many(version, wait));
    if (!history) {
        if (auto cached = app.manifests.find(*tool)) return respond(manifest_response(request, *cached));
    }
    // The database is asked: that costs a lookup token, like an ingest key not in the cache.
    if (const int wait = app.lookup_limiter.acquire(client_address); wait > 0) return respond(too_many(version, wait));
    auto shared_request = std::make_shared<Request>(request);
    shared_request->body().clear();
    on_db_worker(app, version, std::move(respond), [&app, shared_request, tool = *tool, history](Connection& conn) {
        if (history) {
            const auto versions = manifest_history(conn, tool);
            if (versions.empty())
                return text_response(shared_request->version(), http::status::not_found,
                                     "this tool publishes no manifest\n");
            Response response{http::status::ok, shared_request->version()};
            response.set(http::field::content_type, "application/json");
            response.set(http::field::cache_control, kCacheControl);
            response.set(http::field::access_control_allow_origin, "*");
            response.body() = history_json(tool, versions);
            return response;
        }
        ManifestCache::Entry entry;
        entry.loaded = ManifestCache::Clock::now();
        if (const auto current = current_manifest(conn, tool)) {
            entry.found = true;
            entry.etag = "\"v" + std::to_string(current->version) + "\"";
            entry.body = current->json;
        }
        app.manifests.put(tool, entry);
        return manifest_response(*shared_request, entry);
    });
}

}  // namespace tk::collector::detail
