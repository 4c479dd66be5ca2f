#pragma once
/// Reading a batch's shape from its wire bytes, before anything is materialised: how many events
/// it holds and how much memory parsing it would take. Pure (no I/O), so that it can be fuzzed.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tk::collector {

/// What a protobuf Batch body would become once parsed.
struct BatchShape {
    std::size_t events = 0;
    /// An upper estimate of the heap bytes the parsed Batch takes (messages, strings, map nodes,
    /// unknown fields), checked against SpaceUsedLong() in the unit tests.
    std::size_t parsed_bytes = 0;
};

/// Walks a serialised telemetry_kit.v1.Batch (field tags and lengths only, nothing is copied).
/// Returns the 400 answer's text if the bytes are not a well-formed protobuf message, if they
/// use groups (no client sends them, and protobuf would keep them as nested unknown-field
/// sets), or if they hold more than `max_events` events; else nullopt, with `shape` filled in.
std::optional<std::string> scan_batch(std::string_view wire, std::size_t max_events, BatchShape& shape);

/// Converts a protobuf-JSON Batch into its wire form (protobuf's own JSON converter), so that a
/// JSON body goes through the same scan as a binary one. Returns the 400 answer's text on failure.
std::optional<std::string> batch_json_to_wire(const std::string& json, std::string& wire);

}  // namespace tk::collector
