#include "tk/agent/manifest_rules.hpp"

#include <algorithm>

#include "tk/common/manifest.hpp"

namespace tk::agent {
namespace v1 = telemetry_kit::v1;

namespace {

bool kind_matches(const std::string& rule_kind, v1::EventKind kind) {
    if (rule_kind.empty() || rule_kind == "any") return true;
    switch (kind) {
        case v1::EVENT_KIND_COMMAND: return rule_kind == "command";
        case v1::EVENT_KIND_FEATURE: return rule_kind == "feature";
        case v1::EVENT_KIND_CUSTOM: return rule_kind == "custom";
        default: return false;
    }
}

}  // namespace

const v1::EventRule* matching_rule(const v1::Manifest& manifest, v1::EventKind kind, std::string_view name) {
    for (const auto& rule : manifest.events()) {
        if (kind_matches(rule.kind(), kind) && manifest::name_matches(rule.name(), name)) return &rule;
    }
    return nullptr;
}

const char* attribute_refusal(const v1::AttributeRule& rule, v1::AttributeValue::ValueCase value_case,
                              std::string_view text) {
    switch (value_case) {
        case v1::AttributeValue::kStringValue: {
            if (rule.type() != "string") return manifest_reason::attribute_type;
            if (rule.values_size() > 0) {
                for (const auto& allowed : rule.values()) {
                    if (allowed == text) return nullptr;
                }
                return manifest_reason::attribute_value;
            }
            return text.size() <= rule.max_length() ? nullptr : manifest_reason::attribute_value;
        }
        case v1::AttributeValue::kIntValue: return rule.type() == "int" ? nullptr : manifest_reason::attribute_type;
        case v1::AttributeValue::kDoubleValue:
            return rule.type() == "double" ? nullptr : manifest_reason::attribute_type;
        case v1::AttributeValue::kBoolValue: return rule.type() == "bool" ? nullptr : manifest_reason::attribute_type;
        default: return manifest_reason::attribute_type;  // no value at all
    }
}

double sample_point(std::string_view id) {
    // splitmix64's finaliser over the id's two halves: UUIDv7's random bits (the last 62) and its
    // time bits both move every output bit, so the point is uniform for the client's random ids.
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    for (std::size_t i = 0; i < id.size(); ++i) {
        auto& half = i < 8 ? high : low;
        half = (half << 8) | static_cast<unsigned char>(id[i]);
    }
    std::uint64_t x = high ^ (low * 0x9E3779B97F4A7C15ull);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return static_cast<double>(x >> 11) * 0x1.0p-53;
}

ManifestVerdict enforce_manifest(const v1::Event& event, const v1::Manifest& manifest) {
    ManifestVerdict verdict;
    const v1::EventRule* rule = matching_rule(manifest, event.kind(), event.name());
    if (rule == nullptr) {
        verdict.keep = false;
        verdict.reason = manifest_reason::undeclared_event;
        return verdict;
    }
    if (rule->has_sample_rate() && rule->sample_rate() < 1.0) {
        verdict.sample_rate = rule->sample_rate();
        if (sample_point(event.id()) >= rule->sample_rate()) {
            verdict.keep = false;
            verdict.reason = manifest_reason::sampled_out;
            return verdict;
        }
    }
    for (const auto& [key, value] : event.attributes()) {
        const auto declared = rule->attributes().find(key);
        const char* refusal = declared == rule->attributes().end()
                                  ? manifest_reason::undeclared_attribute
                                  : attribute_refusal(declared->second, value.value_case(), value.string_value());
        if (refusal != nullptr) verdict.strip.emplace_back(key, refusal);
    }
    return verdict;
}

ManifestGate manifest_gate(bool has_manifest, bool required, bool sends, bool answered) {
    if (has_manifest) return ManifestGate::enforce;
    if (!required || !sends) return ManifestGate::as_before;
    return answered ? ManifestGate::drop_missing : ManifestGate::hold;
}

bool hold_has_room(std::size_t count, std::size_t bytes, std::size_t event_bytes) {
    return count < kMaxHeldEvents && event_bytes <= kMaxHeldBytes - std::min(bytes, kMaxHeldBytes);
}

}  // namespace tk::agent
