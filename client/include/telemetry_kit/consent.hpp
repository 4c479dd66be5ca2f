#pragma once
/// First-run consent for opt-in tools: ask the person once, on a terminal, and record the answer
/// with their agent (`tk consent grant|deny TOOL` changes it later).
///
///     telemetry_kit::ask_consent_once(config);  // before creating the Client, e.g. in main()

#include <chrono>
#include <optional>
#include <string>

#include "telemetry_kit/client.hpp"
#include "telemetry_kit/export.hpp"

namespace telemetry_kit {

/// A tool's consent as the agent records it.
enum class Consent { unset, granted, denied };

/// What `ask_consent_once` did.
enum class ConsentOutcome {
    granted,                 ///< asked now; the person said yes (recorded)
    denied,                  ///< asked now; the person said no or just pressed Enter (recorded)
    already_granted,         ///< answered before: not asked again
    already_denied,          ///< answered before (or every tool is switched off): not asked again
    not_asked_no_tty,        ///< stdin or stderr is not a terminal
    not_asked_ci,            ///< a CI variable is set
    not_asked_opted_out,     ///< DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED is set: the answer is known
    not_asked_opt_out_tool,  ///< the tool is opt-out: nothing to ask
    not_asked_no_agent,      ///< the agent cannot be reached, so the answer could not be recorded
    no_answer,               ///< asked, but no answer came in time (nothing recorded; asked again next run)
};

struct ConsentPromptOptions {
    int input_fd = 0;   ///< where the answer is read (must be a terminal)
    int output_fd = 2;  ///< where the question is written (must be a terminal)
    /// What is collected, in one sentence; the default describes command and feature events. When
    /// the agent enforces a manifest for the tool, its short form (`tk manifest TOOL`) is shown instead.
    std::string what_is_collected;
    std::chrono::milliseconds agent_timeout{1000};     ///< for each request to the agent
    std::chrono::milliseconds answer_timeout{120000};  ///< how long to wait for the person
};

/// Asks "may <tool> send anonymous usage statistics? [y/N]" once, on a terminal, never in CI,
/// and records the answer through the agent. Blocks only while the person is being asked.
TELEMETRY_KIT_API ConsentOutcome ask_consent_once(const Config& config,
                                                  const ConsentPromptOptions& options = {}) noexcept;

/// The agent's record for `tool`; nullopt if the agent cannot be reached.
TELEMETRY_KIT_API std::optional<Consent> consent_status(
    const std::string& tool, std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) noexcept;

/// Records the person's first answer for `tool` with the agent. False if the agent cannot be
/// reached or refuses: a tool records an answer only while the person has not chosen for it (and
/// a grant only while not every tool is switched off); changing a choice is `tk consent`'s job.
TELEMETRY_KIT_API bool record_consent(const std::string& tool, bool granted,
                                      std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) noexcept;

/// Human-readable name of an outcome, e.g. "not_asked_ci".
TELEMETRY_KIT_API const char* to_string(ConsentOutcome outcome) noexcept;

}  // namespace telemetry_kit
