#pragma once
/// Enforcing a tool's manifest on one event: the decision only (pure, no I/O), applied by the
/// intake before anything is stored (docs/privacy.md, "Manifests").

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry_kit/v1/event.pb.h"
#include "telemetry_kit/v1/manifest.pb.h"

namespace tk::agent {

namespace manifest_reason {
// Events dropped (counted per event, like policy's reasons).
inline constexpr const char* undeclared_event = "manifest_undeclared_event";
inline constexpr const char* sampled_out = "manifest_sampled_out";
// Attributes stripped from kept events (counted per attribute).
inline constexpr const char* undeclared_attribute = "manifest_undeclared_attribute";
inline constexpr const char* attribute_type = "manifest_attribute_wrong_type";
inline constexpr const char* attribute_value = "manifest_attribute_value_not_allowed";
// Events of a tool that requires a manifest (ToolIdentity.manifest_required), dropped per event:
inline constexpr const char* missing = "manifest_missing";  ///< its collector publishes none
/// Held while its collector had not answered, past the hold's bound.
inline constexpr const char* hold_full = "manifest_hold_full";
}  // namespace manifest_reason

/// What becomes of a tool's event before anything is stored, as far as manifests go.
enum class ManifestGate {
    as_before,     ///< no manifest and none required: policy, scrubbing and bounds only
    enforce,       ///< a manifest is in force: enforce_manifest()
    hold,          ///< required, but the collector has not answered yet: keep in memory, unstored
    drop_missing,  ///< required, and the collector answered that it publishes none
};

/// The gate for an event of a tool: `has_manifest` (one in force), `required` (its Hello's
/// manifest_required), `sends` (it has a destination: a local-only tool has no manifest),
/// `answered` (the collector answered a fetch, 200 or 404, since the agent started).
ManifestGate manifest_gate(bool has_manifest, bool required, bool sends, bool answered);

/// Bounds of the events held for one tool while its manifest is not known.
inline constexpr std::size_t kMaxHeldEvents = 1000;
inline constexpr std::size_t kMaxHeldBytes = 1 << 20;

/// True if one more held event of `event_bytes` fits beside `count` events of `bytes`.
bool hold_has_room(std::size_t count, std::size_t bytes, std::size_t event_bytes);

struct ManifestVerdict {
    bool keep = true;
    const char* reason = nullptr;  ///< why dropped, when !keep
    /// Attributes to remove before storing, each with why (a manifest_reason attribute constant).
    std::vector<std::pair<std::string, const char*>> strip;
    /// The matching rule's sample rate, if it samples (< 1): recorded on the kept event.
    double sample_rate = 1.0;
};

/// The first rule of `manifest` that matches an event's kind and name, or nullptr.
const telemetry_kit::v1::EventRule* matching_rule(const telemetry_kit::v1::Manifest& manifest,
                                                  telemetry_kit::v1::EventKind kind, std::string_view name);

/// Why an attribute value is not allowed by `rule` (a manifest_reason attribute constant), or
/// nullptr if it is. `value_case` says which value it holds; `text` is the string value, if any.
const char* attribute_refusal(const telemetry_kit::v1::AttributeRule& rule,
                              telemetry_kit::v1::AttributeValue::ValueCase value_case, std::string_view text);

/// What the manifest makes of `event`: dropped if no rule matches its kind and name (first match
/// wins) or sampling leaves it out; else kept, minus attributes the rule does not declare or
/// whose type or value it does not allow. Sampling is decided by sample_point(event id), so a
/// re-sent event (spool and live) gets the same answer.
ManifestVerdict enforce_manifest(const telemetry_kit::v1::Event& event, const telemetry_kit::v1::Manifest& manifest);

/// A point in [0, 1) spread evenly over random ids (a mix of the id's bytes): the event is kept by
/// a rule of rate r when sample_point < r.
double sample_point(std::string_view id);

}  // namespace tk::agent
