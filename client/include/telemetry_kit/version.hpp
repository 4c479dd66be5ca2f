#pragma once
namespace telemetry_kit {
/// The library's version, e.g. "0.1.0".
const char* version() noexcept;
}
