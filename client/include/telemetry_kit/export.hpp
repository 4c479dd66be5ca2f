#pragma once
/// Symbol visibility: the library is built with hidden visibility; only what carries
/// TELEMETRY_KIT_API is exported from libtelemetry_kit.
#if defined(_WIN32)
#define TELEMETRY_KIT_API
#else
#define TELEMETRY_KIT_API __attribute__((visibility("default")))
#endif
