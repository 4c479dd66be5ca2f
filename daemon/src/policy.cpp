#include "tk/agent/policy.hpp"

#include <cctype>

namespace tk::agent {
namespace v1 = telemetry_kit::v1;

bool opt_out_value(std::string_view value) {
    if (value.empty() || value == "0") return false;
    if (value.size() == 5) {
        static constexpr std::string_view kFalse = "false";
        bool is_false = true;
        for (std::size_t i = 0; i < 5; ++i) {
            if (std::tolower(static_cast<unsigned char>(value[i])) != kFalse[i]) is_false = false;
        }
        if (is_false) return false;
    }
    return true;
}

Decision decide(const v1::ToolIdentity& tool, const v1::OptOutSignals& signals, v1::Consent global_consent,
                v1::Consent tool_consent) {
    if (global_consent == v1::CONSENT_DENIED) return {false, false, drop_reason::global_off};
    if (opt_out_value(signals.do_not_track())) return {false, false, drop_reason::do_not_track};
    if (opt_out_value(signals.tool_disabled())) return {false, false, drop_reason::tool_disabled};
    const bool ci = signals.ci_markers_size() > 0;
    if (ci && !tool.allow_ci()) return {false, false, drop_reason::ci};
    switch (tool_consent) {
        case v1::CONSENT_DENIED: return {false, false, drop_reason::consent_denied};
        case v1::CONSENT_GRANTED: return {true, ci, nullptr};
        default:
            if (tool.consent_mode() == v1::CONSENT_MODE_OPT_OUT) return {true, ci, nullptr};
            return {false, false, drop_reason::consent_unset};
    }
}

}  // namespace tk::agent
