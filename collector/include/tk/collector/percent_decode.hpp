#pragma once
/// Percent-decoding of URL parts: a path segment (DELETE /v1/subjects/{id}) or a query string's
/// names and values (GET /v1/query), where '+' also stands for a space. Pure.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tk::collector {

enum class UrlPart { path_segment, query };

/// `text` with every %XX decoded (and '+' as a space in a query); nullopt if a '%' is not
/// followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, UrlPart part);

/// Calls `visit(key, value)` for each `key=value` pair of a query string (empty pairs skipped, a
/// pair without '=' has an empty value), both percent-decoded. Returns the first non-empty error
/// `visit` returns, "malformed percent-encoding" for a bad %XX, or "" when every pair was taken.
std::string for_each_query_param(
    std::string_view query_string,
    const std::function<std::string(const std::string& key, const std::string& value)>& visit);

}  // namespace tk::collector
