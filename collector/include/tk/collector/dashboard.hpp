#pragma once
/// The dashboard's files (collector/dashboard, docs/dashboard.md), compiled into tk-collector at
/// build time: the page works offline and the collector stays one binary.

#include <string_view>
#include <vector>

namespace tk::collector {

/// One file the page loads.
struct StaticAsset {
    std::string_view path;  ///< "/", "/app.js", ...
    std::string_view content_type;
    std::string_view body;
    std::string_view gzip;  ///< the same bytes, gzip-compressed at build time
    std::string_view etag;  ///< a quoted hash of the body
};

/// Every file of the dashboard; empty when it was not built in (-DTK_DASHBOARD=OFF).
const std::vector<StaticAsset>& dashboard_assets();

/// The asset at `path` (without the query string), or nullptr. Pure over the table.
const StaticAsset* find_asset(std::string_view path);

/// Whether an Accept-Encoding header value accepts gzip (and does not refuse it with q=0). Pure.
bool accepts_gzip(std::string_view accept_encoding);

/// Whether an If-None-Match header value names `etag` (or is "*"). Pure.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace tk::collector
