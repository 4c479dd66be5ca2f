#pragma once
/// Policy: whether an event of a tool is kept, decided from the tool's declaration, the opt-out
/// signals of the client's environment and the person's consent. A pure function; the order of
/// the rules is the precedence (docs/privacy.md).

#include <string>
#include <string_view>

#include "telemetry_kit/v1/agent.pb.h"

namespace tk::agent {

/// Short, stable drop reasons (they appear in `tk status` and its JSON).
namespace drop_reason {
inline constexpr const char* global_off = "global_off";
inline constexpr const char* do_not_track = "do_not_track";
inline constexpr const char* tool_disabled = "tool_disabled";
inline constexpr const char* ci = "ci";
inline constexpr const char* consent_denied = "consent_denied";
inline constexpr const char* consent_unset = "consent_unset";
inline constexpr const char* invalid_event = "invalid_event";  ///< id not 16 bytes
}  // namespace drop_reason

struct Decision {
    bool keep = false;
    bool ci = false;               ///< keep, tagged as a CI run
    const char* reason = nullptr;  ///< why dropped (one of drop_reason), when !keep
};

/// An opt-out variable's value means "off" when non-empty and not `0` or `false` (any case).
bool opt_out_value(std::string_view value);

/// 1. global off switch, 2. DO_NOT_TRACK, 3. <TOOL>_TELEMETRY_DISABLED, 4. CI markers (drop unless
/// the tool allows CI), 5. the person's consent for the tool (denied: drop, granted: keep, unset:
/// keep only if the tool is opt-out).
Decision decide(const telemetry_kit::v1::ToolIdentity& tool, const telemetry_kit::v1::OptOutSignals& signals,
                telemetry_kit::v1::Consent global_consent, telemetry_kit::v1::Consent tool_consent);

/// Whether a control request may run; empty if so, else the reason it is refused (sent back as the
/// reply's error). The person (`tk`, CALLER_PERSON) may do anything. A tool (any other caller) may
/// only: ask for its own consent; record its first-run answer — grant or deny while the person has
/// not chosen (`tool_consent` unset; grant only while the global switch is on); list or forget its
/// own events when its connection said Hello. It may not change a choice the person made, reset,
/// touch another tool or every tool or the global switch, or read the status (other tools' names,
/// counts and collectors) or other tools' events (their anonymous ids). `hello_tool` is the tool
/// of the connection's Hello, empty if none; `tool_consent` is the recorded consent of the tool the
/// consent request names.
std::string control_refusal(const telemetry_kit::v1::ControlRequest& request, std::string_view hello_tool,
                            telemetry_kit::v1::Consent global_consent, telemetry_kit::v1::Consent tool_consent);

}  // namespace tk::agent
