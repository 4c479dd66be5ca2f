#pragma once
/// A tool's manifest (proto/telemetry_kit/v1/manifest.proto, docs/privacy.md "Manifests"): reading
/// and checking the author's JSON file, matching event names against its rules, and saying in
/// plain words what it allows. Used by the collector (checks what it serves), the agent (checks
/// what it fetched, enforces it, describes it to `tk manifest` and the consent prompt). Pure.

#include <cstddef>
#include <string>
#include <string_view>

#include "telemetry_kit/v1/manifest.pb.h"
#include "tk/common/result.hpp"

namespace tk::manifest {

/// Bounds that keep a manifest (and the agent's work per event) small.
inline constexpr std::size_t kMaxFileBytes = 256 * 1024;
inline constexpr std::size_t kMaxRules = 512;
inline constexpr std::size_t kMaxAttributesPerRule = 64;
inline constexpr std::size_t kMaxValues = 256;
inline constexpr std::size_t kMaxNameBytes = 128;
inline constexpr std::size_t kMaxStringLength = 1024;
inline constexpr std::size_t kMaxDescriptionBytes = 1000;

/// Parses the protobuf-JSON form of a Manifest and checks it (check()). Errors name the place:
/// "line 3, column 7: ..." for JSON syntax, "events[2].attributes.target: ..." for a bad field.
Result<telemetry_kit::v1::Manifest> parse(std::string_view json);

/// The checks of parse() on a message: tool name, kinds, names and patterns, attribute types,
/// allowed values or max_length for strings, sample rates in (0, 1], sizes within the bounds above.
Result<void> check(const telemetry_kit::v1::Manifest& manifest);

/// The manifest as JSON (what the collector serves; field names as in the file).
std::string to_json(const telemetry_kit::v1::Manifest& manifest);

/// True if `name` matches `pattern`, where '*' stands for any run of characters (even none).
bool name_matches(std::string_view pattern, std::string_view name);

/// Every rule in plain words, one a line: what the tool may record, with which details, sampled how.
std::string describe(const telemetry_kit::v1::Manifest& manifest);

/// One sentence for a consent prompt, e.g. "at most 3 kinds of events (build, test, cache.*), with
/// 4 declared details; published as version 2 of its manifest".
std::string summary(const telemetry_kit::v1::Manifest& manifest);

}  // namespace tk::manifest
