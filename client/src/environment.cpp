// What the client reads from its process environment (environment.hpp): opt-out variables,
// CI markers, TELEMETRY_KIT_DEBUG.
#include "environment.hpp"

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "tk/common/ci.hpp"

namespace telemetry_kit::detail {

std::string tool_disabled_variable(std::string_view tool) {
    std::string name;
    name.reserve(tool.size() + 19);
    for (const char c : tool) {
        const auto u = static_cast<unsigned char>(c);
        name += std::isalnum(u) != 0 && u < 0x80 ? static_cast<char>(std::toupper(u)) : '_';
    }
    return name + "_TELEMETRY_DISABLED";
}

bool truthy(const char* value) {
    if (value == nullptr || *value == '\0') return false;
    if (std::strcmp(value, "0") == 0) return false;
    std::string lower(value);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower != "false";
}

wire::Signals read_signals(std::string_view tool) {
    wire::Signals signals;
    if (const char* dnt = std::getenv("DO_NOT_TRACK")) signals.do_not_track = dnt;
    if (const char* disabled = std::getenv(tool_disabled_variable(tool).c_str())) signals.tool_disabled = disabled;
    for (const char* name : tk::kCiVariables) {
        if (std::getenv(name) != nullptr) signals.ci_markers.emplace_back(name);
    }
    return signals;
}

bool in_ci() {
    for (const char* name : tk::kCiVariables) {
        if (std::getenv(name) != nullptr) return true;
    }
    return false;
}

bool debug_requested() { return truthy(std::getenv("TELEMETRY_KIT_DEBUG")); }

std::optional<ConsentOutcome> consent_refusal(bool opted_out, bool opt_out_tool, bool ci, bool terminals) {
    if (opted_out) return ConsentOutcome::not_asked_opted_out;
    if (opt_out_tool) return ConsentOutcome::not_asked_opt_out_tool;
    if (ci) return ConsentOutcome::not_asked_ci;
    if (!terminals) return ConsentOutcome::not_asked_no_tty;
    return std::nullopt;
}

}  // namespace telemetry_kit::detail
