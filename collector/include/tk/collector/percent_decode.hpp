#pragma once
/// Percent-decoding of URL parts: a path segment (DELETE /v1/subjects/{id}) or a query string's
/// names and values (GET /v1/query), where '+' also stands for a space. Pure.

#include <optional>
#include <string>
#include <string_view>

namespace tk::collector {

enum class UrlPart { path_segment, query };

/// `text` with every %XX decoded (and '+' as a space in a query); nullopt if a '%' is not
/// followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, UrlPart part);

}  // namespace tk::collector
