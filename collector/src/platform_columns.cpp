// The agent's platform facts as they enter PostgreSQL: their check and COPY text (platform_columns.hpp).
#include "tk/collector/platform_columns.hpp"

namespace tk::collector {

namespace {

constexpr Rejection kBadPlatform{"bad_platform",
                                 "os, os_version, arch or agent_version too long or not [A-Za-z0-9 ._+~-]"};

bool plain_value(const std::string& value) {
    if (value.size() > kMaxPlatformFieldBytes) return false;
    for (const char c : value) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
                        c == '.' || c == '_' || c == '+' || c == '~' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

std::optional<Rejection> check_platform(const telemetry_kit::v1::Event& event) {
    for (const std::string* value : {&event.os(), &event.os_version(), &event.arch(), &event.agent_version()}) {
        if (!plain_value(*value)) return kBadPlatform;
    }
    return std::nullopt;
}

void append_platform_columns(std::string& rows, const telemetry_kit::v1::Event& event) {
    for (const std::string* value : {&event.os(), &event.os_version(), &event.arch(), &event.agent_version()}) {
        rows.push_back('\t');
        rows += *value;
    }
}

}  // namespace tk::collector
