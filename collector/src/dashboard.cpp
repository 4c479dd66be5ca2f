// The dashboard's static files (tk/collector/dashboard.hpp): which file a path names, and its
// answer with the headers a browser needs to cache it safely.
#include "tk/collector/dashboard.hpp"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "dashboard_routes.hpp"

namespace tk::collector {

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

using BeastView = boost::beast::string_view;
std::string_view std_view(BeastView text) { return {text.data(), text.size()}; }
BeastView beast_view(std::string_view text) { return {text.data(), text.size()}; }

/// Calls `each` with every comma-separated item of a header value, trimmed.
template <class Each>
void for_each_item(std::string_view list, Each each) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        each(trim(list.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

/// Whether `target` names the asset with its current version ("?v=" and the first 8 characters of
/// its ETag, as the page names its files): such a URL's bytes never change, so a browser may keep
/// them.
bool versioned(std::string_view target, const StaticAsset& asset) {
    const auto question = target.find('?');
    return question != std::string_view::npos && asset.etag.size() > 9 &&
           target.substr(question + 1) == "v=" + std::string(asset.etag.substr(1, 8));
}

}  // namespace

const StaticAsset* find_asset(std::string_view path) {
    if (path == "/index.html") path = "/";
    const auto& assets = dashboard_assets();
    const auto found = std::find_if(assets.begin(), assets.end(), [&](const StaticAsset& a) { return a.path == path; });
    return found == assets.end() ? nullptr : &*found;
}

bool accepts_gzip(std::string_view accept_encoding) {
    bool accepted = false;
    for_each_item(accept_encoding, [&](std::string_view item) {
        const auto semicolon = item.find(';');
        const auto coding = trim(item.substr(0, semicolon));
        if (!boost::beast::iequals(beast_view(coding), "gzip") && coding != "*") return;
        // "gzip;q=0" refuses it; any other weight accepts.
        const auto weight = semicolon == std::string_view::npos ? std::string_view() : trim(item.substr(semicolon + 1));
        const bool refused =
            weight.substr(0, 2) == "q=" && std::strtod(std::string(weight.substr(2)).c_str(), nullptr) <= 0.0;
        if (coding == "*" && accepted) return;
        accepted = !refused;
    });
    return accepted;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    bool matched = false;
    for_each_item(if_none_match, [&](std::string_view item) {
        if (item.substr(0, 2) == "W/") item.remove_prefix(2);
        if (item == "*" || item == etag) matched = true;
    });
    return matched;
}

namespace detail {

bool is_dashboard_path(std::string_view path) { return path == "/" || find_asset(path) != nullptr; }

Response dashboard_response(const Request& request, std::string_view path) {
    const unsigned version = request.version();
    const StaticAsset* asset = find_asset(path);
    if (asset == nullptr) {
        return text_response(
            version, http::status::not_found,
            "the dashboard is not built into this tk-collector (configured with -DTK_DASHBOARD=OFF)\n");
    }
    const bool not_modified = etag_matches(std_view(request[http::field::if_none_match]), asset->etag);
    const bool gzip = accepts_gzip(std_view(request[http::field::accept_encoding]));
    Response response{not_modified ? http::status::not_modified : http::status::ok, version};
    response.set(http::field::content_type, beast_view(asset->content_type));
    response.set(http::field::etag, beast_view(asset->etag));
    // The page is revalidated every time (a 304 is cheap), so a new collector's page is seen at
    // once; the files it names carry their version and are kept.
    const bool keep = versioned(std_view(request.target()), *asset);
    response.set(http::field::cache_control, keep ? "public, max-age=31536000, immutable" : "no-cache");
    response.set(http::field::vary, "Accept-Encoding");
    response.set("Content-Security-Policy",
                 "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Referrer-Policy", "no-referrer");
    if (!not_modified) {
        if (gzip) response.set(http::field::content_encoding, "gzip");
        response.body() = std::string(gzip ? asset->gzip : asset->body);
    }
    return response;
}

}  // namespace detail

}  // namespace tk::collector
