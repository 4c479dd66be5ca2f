#include "telemetry_kit/version.hpp"

namespace telemetry_kit {
const char* version() noexcept { return TK_VERSION; }
}  // namespace telemetry_kit
