#pragma once
/// What the client reads from its process environment: opt-out signals, CI markers, debug mode.

#include <string>
#include <string_view>

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

}  // namespace telemetry_kit::detail
