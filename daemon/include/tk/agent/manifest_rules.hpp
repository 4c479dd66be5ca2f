#pragma once
/// Enforcing a tool's manifest on one event: the decision only (pure, no I/O), applied by the
/// intake before anything is stored (docs/privacy.md, "Manifests").

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
}  // namespace manifest_reason

struct ManifestVerdict {
    bool keep = true;
    const char* reason = nullptr;  ///< why dropped, when !keep
    /// Attributes to remove before storing, each with why (a manifest_reason attribute constant).
    std::vector<std::pair<std::string, const char*>> strip;
    /// The matching rule's sample rate, if it samples (< 1): recorded on the kept event.
    double sample_rate = 1.0;
};

/// What the manifest makes of `event`: dropped if no rule matches its kind and name (first match
/// wins) or sampling leaves it out; else kept, minus attributes the rule does not declare or
/// whose type or value it does not allow. Sampling is decided by sample_point(event id), so a
/// re-sent event (spool and live) gets the same answer.
ManifestVerdict enforce_manifest(const telemetry_kit::v1::Event& event, const telemetry_kit::v1::Manifest& manifest);

/// A point in [0, 1) spread evenly over random ids (a mix of the id's bytes): the event is kept by
/// a rule of rate r when sample_point < r.
double sample_point(std::string_view id);

}  // namespace tk::agent
