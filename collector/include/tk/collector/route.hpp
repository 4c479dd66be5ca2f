#pragma once
/// Which route a request is for: a pure decision from its method and target, made before anything
/// else (routes.cpp then calls that route's handler). Adding a route: a Route value, a line in
/// classify() and in the small tables of route.cpp, and a handler in routes.cpp's route_request
/// (docs/contributing.md, "Adding a collector route").

#include <boost/beast/http/verb.hpp>

#include <string_view>

namespace tk::collector {

enum class Route {
    batches,           ///< POST /v1/batches
    subject,           ///< DELETE /v1/subjects/{anonymous id}
    query,             ///< GET /v1/query
    export_,           ///< GET /v1/export
    healthz,           ///< GET /healthz
    metrics,           ///< GET /metrics
    tools,             ///< GET /v1/tools
    cohorts,           ///< GET /v1/cohorts
    manifest,          ///< GET /v1/tools/{tool}/manifest (public)
    manifest_history,  ///< GET /v1/tools/{tool}/manifest/history (public)
    dashboard,         ///< GET of one of the dashboard's files
    not_found,         ///< anything else
};

struct RouteMatch {
    Route route = Route::not_found;  ///< what the path names, whatever the method
    bool method_allowed = false;     ///< false: answer 405 with Allow: route_method(route)
    std::string_view param;          ///< the path's parameter ({anonymous id}, {tool}), still percent-encoded
};

/// The route of `target` (its query string is ignored) and whether `method` is the one it takes.
RouteMatch classify(boost::beast::http::verb method, std::string_view target);

/// The one method a route answers (for the Allow header of a 405).
boost::beast::http::verb route_method(Route route);

/// The route's label in tk_collector_requests_total: "batches", "subjects", "query", "export",
/// "healthz", "metrics", "tools", "cohorts", "manifest", "dashboard" or "other".
const char* route_label(Route route);

}  // namespace tk::collector
