#pragma once
// A tool's name as every part accepts it: 1-64 bytes of [A-Za-z0-9._-]. The agent refuses a Hello
// with any other name, so nothing else can reach a collector, a manifest or a file name.
#include <string_view>

namespace tk {

inline bool valid_tool_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace tk
