#pragma once
#include "telemetry_kit/export.hpp"

namespace telemetry_kit {
/// The library's version, e.g. "0.1.0".
TELEMETRY_KIT_API const char* version() noexcept;
}  // namespace telemetry_kit
