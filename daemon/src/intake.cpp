// The intake (intake.hpp): Hello, then per event policy, scrubbing and bounds, the canonical bytes
// that are stored — and the hot path that splices the agent's fields into bytes as sent.
#include "tk/agent/intake.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "tk/agent/identity.hpp"
#include "tk/agent/manifest_rules.hpp"
#include "tk/agent/platform.hpp"
#include "tk/common/varint.hpp"

namespace tk::agent {
namespace v1 = telemetry_kit::v1;

ToolRegistry::ToolRegistry(std::string install_secret, const StoredState& state)
    : secret_(std::move(install_secret)), global_consent_(state.global_consent) {
    for (const auto& record : state.tools) {
        auto tool = std::make_unique<Tool>();
        tool->name = record.name;
        tool->identity = record.identity;
        tool->consent = record.consent;
        tool->generation = record.generation;
        tool->anonymous_id = anonymous_id(secret_, tool->name, tool->generation);
        tools_.emplace(record.name, std::move(tool));
    }
}

ToolRegistry::Tool& ToolRegistry::get_or_add(const std::string& name) {
    auto& slot = tools_[name];
    if (!slot) {
        slot = std::make_unique<Tool>();
        slot->name = name;
        slot->identity.set_tool(name);
        slot->anonymous_id = anonymous_id(secret_, name, 0);
        ++epoch_;
    }
    return *slot;
}

ToolRegistry::Tool* ToolRegistry::find(const std::string& name) {
    auto it = tools_.find(name);
    return it == tools_.end() ? nullptr : it->second.get();
}

void ToolRegistry::set_global_consent(v1::Consent consent) {
    global_consent_ = consent;
    ++epoch_;
}

void ToolRegistry::set_consent(Tool& tool, v1::Consent consent) {
    tool.consent = consent;
    ++epoch_;
}

void ToolRegistry::set_manifest(Tool& tool, std::shared_ptr<const v1::Manifest> manifest) {
    tool.manifest = std::move(manifest);
    ++epoch_;
}

std::string ToolRegistry::rotate(Tool& tool) {
    std::string old = tool.anonymous_id;
    ++tool.generation;
    tool.anonymous_id = anonymous_id(secret_, tool.name, tool.generation);
    ++epoch_;
    return old;
}

void count_drop(IntakeBatch& batch, const char* reason, std::uint64_t count) {
    for (auto& [name, n] : batch.dropped) {
        if (name == reason) {
            n += count;
            return;
        }
    }
    batch.dropped.emplace_back(reason, count);
}

Intake::Intake(ToolRegistry& registry, EventStore& store, Scrubber scrubber)
    : registry_(registry), store_(store), scrubber_(std::move(scrubber)) {}

Result<void> Intake::hello(const v1::Hello& hello, ToolContext& context) {
    if (hello.protocol_version() > 1) {
        return Error{"unsupported protocol_version " + std::to_string(hello.protocol_version()) +
                     " (this agent speaks 1)"};
    }
    const auto& identity = hello.tool();
    if (!valid_tool_name(identity.tool())) {
        return Error{"invalid tool name (1-64 characters of A-Z a-z 0-9 . _ -)"};
    }
    context.hello = hello;
    auto& tool = registry_.get_or_add(identity.tool());
    if (!google::protobuf::util::MessageDifferencer::Equals(tool.identity, identity)) {
        // The tool's latest declaration (endpoint, consent mode...) is what `tk status` shows.
        tool.identity = identity;
        store_.run([name = tool.name, identity](EventStore::Tx& tx) { tx.save_tool(name, identity); }, nullptr);
    }
    context.tool = &tool;
    context.tool_version = identity.version();
    truncate_utf8(context.tool_version, kMaxToolVersionBytes);
    if (!identity.endpoint().empty() && !identity.local_only()) {
        context.destination = Destination{identity.endpoint(), identity.ingest_key()};
        if (on_destination) on_destination(tool.name, identity.endpoint());
    } else {
        context.destination.reset();
    }
    context.epoch = 0;
    refresh(context);
    return {};
}

void Intake::refresh(ToolContext& context) {
    if (context.epoch == registry_.epoch()) return;
    context.decision =
        decide(context.hello.tool(), context.hello.signals(), registry_.global_consent(), context.tool->consent);
    context.manifest = context.tool->manifest;
    context.epoch = registry_.epoch();
}

namespace {

void append_string_field(std::string& out, std::uint32_t field, const std::string& value) {
    append_varint(out, (field << 3) | 2);
    append_varint(out, value.size());
    out += value;
}

// ---- the canonical-form check: a validating walk over the protobuf wire format ----

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2 };

/// A cursor over serialized bytes that accepts only what protobuf itself would write.
struct WireReader {
    const unsigned char* at;
    const unsigned char* end;

    explicit WireReader(std::string_view bytes)
        : at(reinterpret_cast<const unsigned char*>(bytes.data())), end(at + bytes.size()) {}
    bool done() const { return at == end; }

    /// A varint in its shortest encoding (protobuf never writes a redundant 0x80 byte).
    bool varint(std::uint64_t& value) {
        value = 0;
        for (int i = 0; i < 10 && at < end; ++i) {
            const unsigned char byte = *at++;
            value |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
            if ((byte & 0x80) == 0) return (i == 0 || byte != 0) && (i < 9 || byte == 1);
        }
        return false;
    }
    bool tag(std::uint32_t& field, std::uint32_t& type) {
        std::uint64_t value = 0;
        if (!varint(value) || value > 0xFFFFFFFFu) return false;
        field = static_cast<std::uint32_t>(value >> 3);
        type = static_cast<std::uint32_t>(value & 7);
        return true;
    }
    bool bytes(std::string_view& out) {
        std::uint64_t length = 0;
        if (!varint(length) || length > static_cast<std::uint64_t>(end - at)) return false;
        out = std::string_view(reinterpret_cast<const char*>(at), static_cast<std::size_t>(length));
        at += length;
        return true;
    }
    bool skip(std::size_t count) {
        if (count > static_cast<std::size_t>(end - at)) return false;
        at += count;
        return true;
    }
};

/// int32 fields (and enums) are written sign-extended to 64 bits.
bool int32_range(std::uint64_t value) { return value <= 0x7FFFFFFFu || value >= 0xFFFFFFFF80000000u; }

/// AttributeValue: empty (no value set) or exactly one field of its oneof, in canonical form
/// (a oneof member is written even when it holds its default).
/// A string value is left in `text` (`is_text` set).
bool canonical_attribute_value(std::string_view bytes, std::string_view& text, bool& is_text, std::uint32_t& field) {
    WireReader in(bytes);
    is_text = false;
    field = 0;  // AttributeValue::VALUE_NOT_SET
    if (in.done()) return true;
    std::uint32_t type = 0;
    std::uint64_t value = 0;
    if (!in.tag(field, type)) return false;
    bool ok = false;
    switch (field) {
        case 1: ok = is_text = type == kLength && in.bytes(text); break;
        case 2: ok = type == kVarint && in.varint(value); break;
        case 3: ok = type == kFixed64 && in.skip(8); break;
        case 4: ok = type == kVarint && in.varint(value) && value <= 1; break;
        default: return false;
    }
    return ok && in.done();
}

/// A map<string, AttributeValue> entry: key (field 1), then value (field 2), both always written.
bool canonical_map_entry(std::string_view bytes, std::string_view& key, std::string_view& text, bool& is_text,
                         std::uint32_t& value_field) {
    WireReader in(bytes);
    std::uint32_t field = 0;
    std::uint32_t type = 0;
    std::string_view value;
    if (!in.tag(field, type) || field != 1 || type != kLength || !in.bytes(key)) return false;
    if (!in.tag(field, type) || field != 2 || type != kLength || !in.bytes(value)) return false;
    return in.done() && canonical_attribute_value(value, text, is_text, value_field);
}

/// Where a client's event, canonical but for the order of its attribute map, keeps its pieces.
struct EventLayout {
    struct Entry {
        std::string_view key;
        std::string_view field;  ///< the whole map-entry field: tag, length, entry
        std::string_view text;   ///< the string value, if is_text
        bool is_text = false;
        std::uint32_t value_field = 0;  ///< the AttributeValue field set (its ValueCase), 0: none
    };
    std::string_view id;  ///< the fields the scrubber and the policy look at
    std::string_view name;
    std::string_view tool_version;
    std::uint64_t kind = 0;         ///< as on the wire (an int32, sign-extended)
    std::size_t entries_begin = 0;  ///< the attribute fields are one run in raw: [begin, end)
    std::size_t entries_end = 0;
    std::size_t count = 0;
    bool sorted = true;  ///< the entries are already in key order
    std::array<Entry, kMaxAttributes> entries;
};

/// canonical_client_event(), except that map entries may come in any order (each key once):
/// they are then recorded in `layout`, sorted, so the splice can put them in order. Bounded:
/// more entries than the scrubber keeps is not a fast-path event.
bool scan_client_event(std::string_view raw, std::string_view tool, EventLayout& layout) {
    WireReader in(raw);
    std::uint32_t last = 0;
    layout.entries_begin = layout.entries_end = raw.size();
    layout.count = 0;
    layout.sorted = true;
    layout.id = layout.name = layout.tool_version = {};
    layout.kind = 0;
    while (!in.done()) {
        const auto* field_start = in.at;
        std::uint32_t field = 0;
        std::uint32_t type = 0;
        std::uint64_t value = 0;
        std::string_view bytes;
        if (!in.tag(field, type)) return false;
        // In field order, each once; only the attribute map's entries repeat.
        if (field < last || (field == last && field != v1::Event::kAttributesFieldNumber)) return false;
        switch (field) {
            case v1::Event::kToolFieldNumber:
                // The client library names its tool; only the Hello's name is what the agent sets.
                if (type != kLength || !in.bytes(bytes) || bytes.empty() || bytes != tool) return false;
                break;
            case v1::Event::kIdFieldNumber:
            case v1::Event::kToolVersionFieldNumber:
            case v1::Event::kNameFieldNumber:
                // Implicit presence: an empty string is never written.
                if (type != kLength || !in.bytes(bytes) || bytes.empty()) return false;
                (field == v1::Event::kIdFieldNumber     ? layout.id
                 : field == v1::Event::kNameFieldNumber ? layout.name
                                                        : layout.tool_version) = bytes;
                break;
            case v1::Event::kKindFieldNumber:
                if (type != kVarint || !in.varint(value) || value == 0 || !int32_range(value)) return false;
                layout.kind = value;
                break;
            case v1::Event::kTimestampUnixMsFieldNumber:
                if (type != kVarint || !in.varint(value) || value == 0) return false;
                break;
            case v1::Event::kAttributesFieldNumber: {
                std::string_view key;
                std::string_view text;
                bool is_text = false;
                std::uint32_t value_field = 0;
                if (type != kLength || !in.bytes(bytes) || !canonical_map_entry(bytes, key, text, is_text, value_field))
                    return false;
                if (layout.count == layout.entries.size()) return false;
                const auto begin =
                    static_cast<std::size_t>(field_start - reinterpret_cast<const unsigned char*>(raw.data()));
                const auto end = static_cast<std::size_t>(in.at - field_start);
                if (layout.count == 0) {
                    layout.entries_begin = begin;
                } else if (key <= layout.entries[layout.count - 1].key) {
                    layout.sorted = false;
                }
                layout.entries_end = begin + end;
                layout.entries[layout.count++] = {key, raw.substr(begin, end), text, is_text, value_field};
                break;
            }
            case v1::Event::kSuccessFieldNumber:  // explicit presence: false is written
                if (type != kVarint || !in.varint(value) || value > 1) return false;
                break;
            case v1::Event::kDurationUsFieldNumber:
                if (type != kVarint || !in.varint(value)) return false;
                break;
            case v1::Event::kExitCodeFieldNumber:
                if (type != kVarint || !in.varint(value) || !int32_range(value)) return false;
                break;
            default:
                // anonymous_id, ci and the platform facts are the agent's to set; anything else is unknown.
                return false;
        }
        last = field;
    }
    if (!layout.sorted) {
        auto* first = layout.entries.data();
        std::sort(first, first + layout.count, [](const auto& a, const auto& b) { return a.key < b.key; });
    }
    // No key twice: protobuf keeps the last copy, and the first would travel unscrubbed.
    for (std::size_t i = 1; i < layout.count; ++i) {
        if (layout.entries[i - 1].key == layout.entries[i].key) return false;
    }
    return true;
}

}  // namespace

bool canonical_client_event(std::string_view raw, std::string_view tool) {
    EventLayout layout;
    return scan_client_event(raw, tool, layout) && layout.sorted;
}

void serialize_canonical(const v1::Event& event, std::string& out) {
    out.clear();
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map entries sorted by key
    event.SerializeToCodedStream(&coded);
}

namespace {

/// `raw` (scan_client_event) with the agent's fields spliced in at their places: tool (2) and
/// tool_version (3), where the event has none, right after the id (1), which is always first;
/// the attribute entries in key order; anonymous_id (11) and ci (12) at the end. Equals
/// serialize_canonical() of the final event.
void splice_agent_fields(std::string_view raw, const EventLayout& layout, const ToolContext& context,
                         const std::string& anonymous_id, std::string& out) {
    // The id is field 1 of 16 bytes (accept() checked it): tag, length, 16 bytes.
    constexpr std::size_t kIdBytes = 2 + 16;
    const auto tag_at = [&raw](std::size_t at) {
        return at < raw.size() ? static_cast<unsigned char>(raw[at]) : 0;  // tags 2 and 3 are one byte
    };
    const bool has_tool = tag_at(kIdBytes) == ((v1::Event::kToolFieldNumber << 3) | 2);
    // With a tool field in raw, the version (if any) follows it: skip tag, length (< 128: the
    // name is at most 64 bytes) and name.
    const std::size_t after_tool = has_tool ? kIdBytes + 2 + static_cast<unsigned char>(raw[kIdBytes + 1]) : kIdBytes;
    const bool has_version = tag_at(after_tool) == ((v1::Event::kToolVersionFieldNumber << 3) | 2);
    out.reserve(raw.size() + context.hello.tool().tool().size() + anonymous_id.size() + 16);
    out.append(raw.data(), after_tool);
    if (!has_tool) append_string_field(out, v1::Event::kToolFieldNumber, context.hello.tool().tool());
    if (!has_version && !context.tool_version.empty()) {
        append_string_field(out, v1::Event::kToolVersionFieldNumber, context.tool_version);
    }
    if (layout.sorted) {
        out.append(raw.data() + after_tool, raw.size() - after_tool);
    } else {
        out.append(raw.data() + after_tool, layout.entries_begin - after_tool);
        for (std::size_t i = 0; i < layout.count; ++i) out += layout.entries[i].field;
        out.append(raw.data() + layout.entries_end, raw.size() - layout.entries_end);
    }
    append_string_field(out, v1::Event::kAnonymousIdFieldNumber, anonymous_id);
    if (context.decision.ci) {
        append_varint(out, (v1::Event::kCiFieldNumber << 3) | 0);
        append_varint(out, 1);
    }
    out += local_platform_wire();  // fields 13-16, last in field order; scan_client_event() refused a client's
}

}  // namespace

namespace {

/// The manifest's verdict on `event`, carried out: false (the drop counted) if it is dropped;
/// else undeclared or refused attributes are removed (each counted) and the version and sample
/// rate recorded on it.
bool apply_manifest(const v1::Manifest& manifest, v1::Event& event, IntakeBatch& batch) {
    const ManifestVerdict verdict = enforce_manifest(event, manifest);
    if (!verdict.keep) {
        count_drop(batch, verdict.reason);
        return false;
    }
    for (const auto& [key, why] : verdict.strip) {
        event.mutable_attributes()->erase(key);
        count_drop(batch, why);
    }
    event.set_manifest_version(manifest.version());
    if (verdict.sample_rate < 1.0) event.set_sample_rate(verdict.sample_rate);
    return true;
}

}  // namespace

bool Intake::accept(ToolContext& context, v1::Event& event, IntakeBatch& batch, std::string_view raw) {
    refresh(context);
    if (!context.decision.keep) {
        count_drop(batch, context.decision.reason);
        return false;
    }
    if (event.id().size() != 16) {
        count_drop(batch, drop_reason::invalid_event);
        return false;
    }
    // The manifest fields are the agent's to set, like anonymous_id.
    event.clear_manifest_version();
    event.clear_sample_rate();
    switch (manifest_gate(context.manifest != nullptr, context.hello.tool().manifest_required(),
                          context.destination.has_value(), context.tool->manifest_answered)) {
        case ManifestGate::as_before: break;
        case ManifestGate::enforce:
            if (!apply_manifest(*context.manifest, event, batch)) return false;
            raw = {};  // the event is not as sent any more: serialized below, never spliced
            break;
        case ManifestGate::hold: return hold(context, event, batch);
        case ManifestGate::drop_missing: count_drop(batch, manifest_reason::missing); return false;
    }
    const auto scrubbed = scrubber_.apply(event);
    PreparedEvent prepared;
    prepared.id = event.id();
    static thread_local EventLayout layout;  // 2 KiB: not cleared per event
    if (!raw.empty() && !scrubbed.changed && scan_client_event(raw, context.hello.tool().tool(), layout)) {
        // Hot path: the client sent the canonical form (but perhaps for the order of its
        // attributes) and nothing was scrubbed.
        splice_agent_fields(raw, layout, context, context.tool->anonymous_id, prepared.payload);
    } else {
        event.set_tool(context.hello.tool().tool());
        if (event.tool_version().empty()) event.set_tool_version(context.tool_version);
        event.set_anonymous_id(context.tool->anonymous_id);
        event.set_ci(context.decision.ci);
        stamp_platform(event, local_platform());
        event.DiscardUnknownFields();  // protobuf keeps them for re-serialization; we must not
        serialize_canonical(event, prepared.payload);
    }
    batch.events.push_back(std::move(prepared));
    return true;
}

bool Intake::hold(const ToolContext& context, const v1::Event& event, IntakeBatch& batch) {
    auto& held = held_[context.tool->name];
    const std::size_t size = event.ByteSizeLong();
    if (!hold_has_room(held.events.size(), held.bytes, size)) {
        count_drop(batch, manifest_reason::hold_full);
        return false;
    }
    if (held.events.empty()) {
        spdlog::info("manifest: {} requires one and its collector has not answered yet: holding its events",
                     context.tool->name);
    }
    held.events.emplace_back(context, event);  // a copy: `event` may live in a session's arena
    held.bytes += size;
    return true;  // neither stored nor dropped yet
}

void Intake::manifest_answered(ToolRegistry::Tool& tool, std::shared_ptr<const v1::Manifest> manifest) {
    registry_.set_manifest(tool, std::move(manifest));
    tool.manifest_answered = true;
    const auto it = held_.find(tool.name);
    if (it == held_.end()) return;
    auto events = std::move(it->second.events);
    held_.erase(it);
    spdlog::info("manifest: {} answered; {} held events go through it now", tool.name, events.size());
    IntakeBatch batch;
    const auto submit = [&] {
        if (!batch.events.empty() || !batch.dropped.empty()) store_.submit(std::move(batch));
        batch = IntakeBatch{};
    };
    for (auto& [context, event] : events) {
        if (!(batch.destination == context.destination)) submit();  // a batch has one destination
        batch.tool = tool.name;
        batch.destination = context.destination;
        accept(context, event, batch);  // policy again (the person may have chosen meanwhile), then the gate
    }
    submit();
}

std::uint64_t Intake::held(const std::string& tool) const {
    const auto it = held_.find(tool);
    return it == held_.end() ? 0 : it->second.events.size();
}

std::uint64_t Intake::forget_held(const std::string& tool) {
    const std::uint64_t count = held(tool);
    held_.erase(tool);
    return count;
}

std::uint64_t Intake::held_total() const {
    std::uint64_t total = 0;
    for (const auto& [name, held] : held_) total += held.events.size();
    return total;
}

namespace {

bool valid_utf8(std::string_view text) {
    return google::protobuf::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(text.size()));
}

}  // namespace

namespace {

/// enforce_manifest()'s verdict on a scanned event when it keeps the event unchanged (its kind
/// and name declared, every attribute declared and allowed, sampled in): the sample rate to
/// record (1: the rule does not sample). nullopt when it would drop the event or strip an
/// attribute: accept() does that on the parsed event, and counts it.
std::optional<double> manifest_keeps_as_sent(const v1::Manifest& manifest, const EventLayout& layout) {
    const auto kind = static_cast<v1::EventKind>(static_cast<std::int32_t>(layout.kind));
    const v1::EventRule* rule = matching_rule(manifest, kind, layout.name);
    if (rule == nullptr) return std::nullopt;
    double rate = 1.0;
    if (rule->has_sample_rate() && rule->sample_rate() < 1.0) {
        rate = rule->sample_rate();
        if (sample_point(layout.id) >= rate) return std::nullopt;
    }
    for (std::size_t i = 0; i < layout.count; ++i) {
        const auto& entry = layout.entries[i];
        const auto declared = rule->attributes().find(std::string(entry.key));
        if (declared == rule->attributes().end()) return std::nullopt;
        const auto value_case = static_cast<v1::AttributeValue::ValueCase>(entry.value_field);
        if (attribute_refusal(declared->second, value_case, entry.text) != nullptr) return std::nullopt;
    }
    return rate;
}

/// The manifest's fields (manifest_version 20, sample_rate 21), last in field order, as
/// serialize_canonical() writes them.
void append_manifest_fields(std::string& out, std::uint32_t version, double rate) {
    if (version != 0) {
        append_varint(out, (v1::Event::kManifestVersionFieldNumber << 3) | 0);
        append_varint(out, version);
    }
    if (rate < 1.0) {
        append_varint(out, (v1::Event::kSampleRateFieldNumber << 3) | 1);
        std::uint64_t bits = 0;
        static_assert(sizeof bits == sizeof rate);
        std::memcpy(&bits, &rate, sizeof bits);
        for (int i = 0; i < 8; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);  // little-endian
    }
}

}  // namespace

bool Intake::accept_as_sent(ToolContext& context, std::string_view raw, IntakeBatch& batch) {
    refresh(context);
    if (!context.decision.keep) return false;  // accept() counts the drop (and tells a malformed event)
    // A required manifest not known yet: accept() holds the event (or drops it, if none is published).
    if (!context.manifest && context.hello.tool().manifest_required()) return false;
    static thread_local EventLayout layout;    // 5 KiB: not cleared per event
    if (!scan_client_event(raw, context.hello.tool().tool(), layout)) return false;
    // accept()'s checks, on the raw fields: an id of 16 bytes, and nothing the scrubber would change.
    if (layout.id.size() != 16 || !Scrubber::keeps_fields(layout.name, layout.tool_version)) return false;
    // Strings the parser would refuse (proto3 strings are UTF-8) are the parser's to refuse.
    if (!valid_utf8(layout.name) || !valid_utf8(layout.tool_version)) return false;
    for (std::size_t i = 0; i < layout.count; ++i) {
        const auto& entry = layout.entries[i];
        if (!Scrubber::keeps_key(entry.key) || !valid_utf8(entry.key)) return false;
        if (entry.is_text && (!valid_utf8(entry.text) || !scrubber_.keeps_value(entry.text))) return false;
    }
    // The common case of a tool with a manifest — a declared event with declared attributes — is
    // stored as sent too, with the manifest's fields appended; anything it would change is accept()'s.
    std::optional<double> rate;
    if (context.manifest && !(rate = manifest_keeps_as_sent(*context.manifest, layout))) return false;
    PreparedEvent prepared;
    prepared.id = std::string(layout.id);
    splice_agent_fields(raw, layout, context, context.tool->anonymous_id, prepared.payload);
    if (rate) append_manifest_fields(prepared.payload, context.manifest->version(), *rate);
    batch.events.push_back(std::move(prepared));
    return true;
}

std::optional<std::string_view> lone_event(std::string_view payload) {
    if (payload.size() < 2 || static_cast<unsigned char>(payload[0]) != 0x12) return std::nullopt;
    std::uint64_t length = 0;
    std::size_t position = 1;
    for (int shift = 0; position < payload.size() && shift < 35; shift += 7) {
        const auto byte = static_cast<unsigned char>(payload[position++]);
        length |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
        if ((byte & 0x80) == 0) {
            if (position + length == payload.size()) return payload.substr(position);
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace tk::agent
