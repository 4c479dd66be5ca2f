#pragma once
/// Minimal JSON output shared by the client's debug mode and the collector's attribute column.

#include <string>
#include <string_view>

namespace tk::json {

/// Appends `text` as a JSON string literal: quotes, backslashes and control characters escaped
/// (bytes >= 0x20 pass through unchanged, so valid UTF-8 stays valid).
void append_string(std::string& out, std::string_view text);

}  // namespace tk::json
