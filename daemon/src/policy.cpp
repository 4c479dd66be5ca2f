// Policy (policy.hpp): keep or drop an event, and which control requests a tool may make. Pure.
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

namespace {

std::string consent_refusal(const v1::ConsentRequest& request, std::string_view hello_tool, v1::Consent global_consent,
                            v1::Consent tool_consent) {
    if (request.all() || request.tool().empty()) {
        return "a tool cannot see or change every tool's consent or the global switch; that is `tk consent`";
    }
    if (!hello_tool.empty() && request.tool() != hello_tool) {
        return "a tool can only ask about its own consent ('" + std::string(hello_tool) + "', not '" + request.tool() +
               "')";
    }
    switch (request.action()) {
        case v1::ConsentRequest::ACTION_STATUS: return {};
        case v1::ConsentRequest::ACTION_GRANT:
        case v1::ConsentRequest::ACTION_DENY:
            if (tool_consent != v1::CONSENT_UNSET) {
                return "the person already chose for '" + request.tool() + "' (" +
                       (tool_consent == v1::CONSENT_GRANTED ? "granted" : "denied") + "); only `tk consent` changes it";
            }
            if (request.action() == v1::ConsentRequest::ACTION_GRANT && global_consent == v1::CONSENT_DENIED) {
                return "every tool is switched off (`tk consent deny --all`); only `tk consent` changes it";
            }
            return {};
        default: return "a tool cannot reset consent; that is `tk consent reset`";
    }
}

}  // namespace

std::string control_refusal(const v1::ControlRequest& request, std::string_view hello_tool, v1::Consent global_consent,
                            v1::Consent tool_consent) {
    if (request.caller() == v1::CALLER_PERSON) return {};
    const auto own = [&](const std::string& tool) { return !hello_tool.empty() && tool == hello_tool; };
    switch (request.command_case()) {
        case v1::ControlRequest::kConsent:
            return consent_refusal(request.consent(), hello_tool, global_consent, tool_consent);
        case v1::ControlRequest::kStatus:
            return "a tool cannot read the agent's status (it names every tool); that is `tk status`";
        case v1::ControlRequest::kEvents:
            if (own(request.events().tool())) return {};
            return "a tool can only list its own events, after its Hello; every tool's is `tk events`";
        case v1::ControlRequest::kForget:
            if (own(request.forget().tool())) return {};
            return "a tool can only forget its own data, after its Hello; anything else is `tk forget`";
        case v1::ControlRequest::kManifest:
            return {};       // a manifest is public (the consent prompt shows it), any tool's
        default: return {};  // flush and what this agent does not know are harmless (or answered as unknown)
    }
}

}  // namespace tk::agent
