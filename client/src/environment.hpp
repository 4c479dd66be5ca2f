#pragma once
/// What the client reads from its process environment: opt-out signals, CI markers, debug mode.

#include <optional>
#include <string>
#include <string_view>

#include "telemetry_kit/consent.hpp"
#include "wire.hpp"

namespace telemetry_kit::detail {

/// "<TOOL>_TELEMETRY_DISABLED": the tool's name upper-cased, anything but A-Z/0-9 as '_'.
std::string tool_disabled_variable(std::string_view tool);

/// A set opt-out value counts when it is non-empty and not "0" or "false" (any case).
bool truthy(const char* value);

/// DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED (raw values) and the names of the CI variables set.
wire::Signals read_signals(std::string_view tool);

/// True if any CI marker (tk::kCiVariables) is set.
bool in_ci();

/// True if TELEMETRY_KIT_DEBUG is truthy.
bool debug_requested();

/// Why an opt-in tool's first-run consent question may not be asked (nullopt: it may), checked in
/// the order every client checks (docs/clients-python-rust-go.md, "The same in every client"): the
/// opt-outs first — DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED win over everything — then an opt-out
/// tool, a CI variable, a missing terminal. Pure: the caller reads the environment and the fds.
std::optional<ConsentOutcome> consent_refusal(bool opted_out, bool opt_out_tool, bool ci, bool terminals);

}  // namespace telemetry_kit::detail
