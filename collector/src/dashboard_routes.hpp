#pragma once
// Internal to the collector library: the dashboard's routes (docs/dashboard.md) — its static
// files, and the small read-token endpoints the page needs besides /v1/query.

#include <string_view>

#include "app.hpp"

namespace tk::collector::detail {

/// Whether `path` is one of the dashboard's files ("/" always is, built in or not).
bool is_dashboard_path(std::string_view path);
/// GET of a dashboard file: gzip when accepted, ETag/304, no-cache, CSP default-src 'self'.
Response dashboard_response(const Request& request, std::string_view path);

/// GET /v1/tools: the tools the read token may read, {"tools":[...]}; 401 for no valid token.
/// One indexed lookup. Throws DatabaseError.
Response tools_response(Connection& conn, std::string_view authorization, unsigned version);

/// GET /v1/cohorts (tk/collector/cohorts.hpp): the retention grid of a tool, with the read
/// token checked first. Throws DatabaseError.
Response cohorts_response(Connection& conn, std::string_view authorization, std::string_view query_string,
                          unsigned version);

}  // namespace tk::collector::detail
