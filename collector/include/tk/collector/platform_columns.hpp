#pragma once
/// The agent's platform facts (Event fields 13-16) as they enter PostgreSQL: the check an
/// event's values must pass, and their COPY text. The agent writes only short values of a small
/// alphabet (daemon/src/platform.cpp); anything else is a broken or hostile sender.

#include <optional>
#include <string>

#include "telemetry_kit/v1/event.pb.h"
#include "tk/collector/ingest.hpp"

namespace tk::collector {

/// At most this many bytes per platform field.
constexpr std::size_t kMaxPlatformFieldBytes = 64;

/// A rejection if a platform field is too long or has a character outside [A-Za-z0-9 ._+~-].
std::optional<Rejection> check_platform(const telemetry_kit::v1::Event& event);

/// Appends "\t<os>\t<os_version>\t<arch>\t<agent_version>" (the values need no COPY escaping
/// once check_platform() passed).
void append_platform_columns(std::string& rows, const telemetry_kit::v1::Event& event);

}  // namespace tk::collector
