// classify(): a request's route from its method and path, with no I/O (tests/collector/test_routes.cpp).
#include "tk/collector/route.hpp"

#include "dashboard_routes.hpp"

namespace tk::collector {

namespace {

namespace http = boost::beast::http;

constexpr std::string_view kSubjectsPrefix = "/v1/subjects/";
constexpr std::string_view kToolsPrefix = "/v1/tools/";
constexpr std::string_view kManifestSuffix = "/manifest";
constexpr std::string_view kHistorySuffix = "/manifest/history";

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// /v1/tools/{tool}/manifest[/history]: the route, with `param` = {tool} (one non-empty segment).
Route manifest_route(std::string_view path, std::string_view& param) {
    const bool history = ends_with(path, kHistorySuffix);
    const std::string_view suffix = history ? kHistorySuffix : kManifestSuffix;
    if (!ends_with(path, suffix) || path.size() <= kToolsPrefix.size() + suffix.size()) return Route::not_found;
    const auto tool = path.substr(kToolsPrefix.size(), path.size() - kToolsPrefix.size() - suffix.size());
    if (tool.find('/') != std::string_view::npos) return Route::not_found;
    param = tool;
    return history ? Route::manifest_history : Route::manifest;
}

/// The route a path names; `param` gets the path's parameter, if the route has one.
Route route_of_path(std::string_view path, std::string_view& param) {
    if (path == "/v1/batches") return Route::batches;
    if (starts_with(path, kSubjectsPrefix)) {
        param = path.substr(kSubjectsPrefix.size());
        return Route::subject;
    }
    if (path == "/healthz") return Route::healthz;
    if (path == "/v1/query") return Route::query;
    if (path == "/v1/export") return Route::export_;
    if (path == "/metrics") return Route::metrics;
    if (path == "/v1/tools") return Route::tools;
    if (path == "/v1/cohorts") return Route::cohorts;
    if (starts_with(path, kToolsPrefix)) return manifest_route(path, param);
    if (detail::is_dashboard_path(path)) return Route::dashboard;
    return Route::not_found;
}

}  // namespace

RouteMatch classify(http::verb method, std::string_view target) {
    RouteMatch match;
    match.route = route_of_path(target.substr(0, target.find('?')), match.param);
    match.method_allowed = match.route != Route::not_found && method == route_method(match.route);
    return match;
}

http::verb route_method(Route route) {
    switch (route) {
        case Route::batches: return http::verb::post;
        case Route::subject: return http::verb::delete_;
        case Route::query:
        case Route::export_:
        case Route::healthz:
        case Route::metrics:
        case Route::tools:
        case Route::cohorts:
        case Route::manifest:
        case Route::manifest_history:
        case Route::dashboard:
        case Route::not_found: break;
    }
    return http::verb::get;
}

const char* route_label(Route route) {
    switch (route) {
        case Route::batches: return "batches";
        case Route::subject: return "subjects";
        case Route::query: return "query";
        case Route::export_: return "export";
        case Route::healthz: return "healthz";
        case Route::metrics: return "metrics";
        case Route::tools: return "tools";
        case Route::cohorts: return "cohorts";
        case Route::manifest:
        case Route::manifest_history: return "manifest";
        case Route::dashboard: return "dashboard";
        case Route::not_found: break;
    }
    return "other";
}

}  // namespace tk::collector
