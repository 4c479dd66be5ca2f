// The client's hand-written protobuf encoding (wire.hpp): Hello, Event, Flush and spool records
// out, AgentReply in — so the library needs no libprotobuf.
#include "wire.hpp"

#include <cstring>

#include "tk/common/spool_format.hpp"
#include "tk/common/varint.hpp"

namespace telemetry_kit::detail::wire {
namespace {

// Protobuf wire types.
constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kFixed64 = 1;
constexpr std::uint32_t kLengthDelimited = 2;
constexpr std::uint32_t kFixed32 = 5;

using tk::varint_size;
void put_varint(std::string& out, std::uint64_t value) { tk::append_varint(out, value); }

void put_tag(std::string& out, std::uint32_t field, std::uint32_t wire_type) {
    put_varint(out, (field << 3) | wire_type);
}

// proto3 scalars: a default value is not written, except where the field has presence.
void put_uint(std::string& out, std::uint32_t field, std::uint64_t value, bool always = false) {
    if (value == 0 && !always) return;
    put_tag(out, field, kVarint);
    put_varint(out, value);
}

void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes, bool always = false) {
    if (bytes.empty() && !always) return;
    put_tag(out, field, kLengthDelimited);
    put_varint(out, bytes.size());
    out.append(bytes);
}

void put_double(std::string& out, std::uint32_t field, double value) {
    put_tag(out, field, kFixed64);
    std::uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    char buffer[8];
    for (int i = 0; i < 8; ++i) buffer[i] = static_cast<char>(bits >> (8 * i));  // little-endian
    out.append(buffer, 8);
}

void put_attribute(std::string& out, const Attribute& attribute) {
    // AttributeValue: a oneof, so the chosen field is written even when it holds a default value.
    std::string value;
    const auto& v = attribute.value.get();
    if (const auto* text = std::get_if<std::string>(&v)) {
        put_bytes(value, 1, *text, true);
    } else if (const auto* number = std::get_if<std::int64_t>(&v)) {
        put_uint(value, 2, static_cast<std::uint64_t>(*number), true);
    } else if (const auto* real = std::get_if<double>(&v)) {
        put_double(value, 3, *real);
    } else if (const auto* flag = std::get_if<bool>(&v)) {
        put_uint(value, 4, *flag ? 1 : 0, true);
    }
    // Map entry: key = 1, value = 2.
    std::string entry;
    put_bytes(entry, 1, attribute.key);
    put_bytes(entry, 2, value, true);
    put_bytes(out, 7, entry, true);
}

// Reads protobuf fields from a buffer; stops (ok() false) at anything malformed.
class Reader {
public:
    explicit Reader(std::string_view data) : data_(data) {}

    bool done() const { return pos_ >= data_.size() || failed_; }
    bool ok() const { return !failed_; }

    // Next field's number and wire type; false at the end or on error.
    bool next(std::uint32_t& field, std::uint32_t& wire_type) {
        if (done()) return false;
        std::uint64_t key = 0;
        if (!varint(key)) return false;
        field = static_cast<std::uint32_t>(key >> 3);
        wire_type = static_cast<std::uint32_t>(key & 7);
        if (field == 0) return fail();
        return true;
    }

    bool varint(std::uint64_t& value) {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= data_.size()) return fail();
            const auto byte = static_cast<unsigned char>(data_[pos_++]);
            value |= std::uint64_t{byte & 0x7fu} << shift;
            if ((byte & 0x80) == 0) return true;
        }
        return fail();
    }

    bool bytes(std::string_view& out) {
        std::uint64_t size = 0;
        if (!varint(size)) return false;
        if (size > data_.size() - pos_) return fail();
        out = data_.substr(pos_, size);
        pos_ += size;
        return true;
    }

    bool skip(std::uint32_t wire_type) {
        std::uint64_t ignored;
        std::string_view ignored_bytes;
        switch (wire_type) {
            case kVarint: return varint(ignored);
            case kFixed64: return advance(8);
            case kLengthDelimited: return bytes(ignored_bytes);
            case kFixed32: return advance(4);
            default: return fail();  // groups: not used by our protos
        }
    }

private:
    bool advance(std::size_t n) {
        if (n > data_.size() - pos_) return fail();
        pos_ += n;
        return true;
    }
    bool fail() {
        failed_ = true;
        return false;
    }

    std::string_view data_;
    std::size_t pos_ = 0;
    bool failed_ = false;
};

bool decode_flush_ack(std::string_view data, Reply& reply) {
    Reader in(data);
    std::uint32_t field, type;
    while (in.next(field, type)) {
        std::uint64_t* target = nullptr;
        if (type == kVarint) {
            switch (field) {
                case 1: target = &reply.request_id; break;
                case 2: target = &reply.accepted; break;
                case 3: target = &reply.dropped; break;
                case 4: target = &reply.duplicates; break;
                default: break;
            }
        }
        if (target != nullptr ? !in.varint(*target) : !in.skip(type)) return false;
    }
    return in.ok();
}

bool decode_tool_consent(std::string_view data, Reply::ToolConsent& tool) {
    Reader in(data);
    std::uint32_t field, type;
    while (in.next(field, type)) {
        if (field == 1 && type == kLengthDelimited) {
            std::string_view name;
            if (!in.bytes(name)) return false;
            tool.tool = std::string(name);
        } else if (field == 2 && type == kVarint) {
            std::uint64_t value;
            if (!in.varint(value)) return false;
            tool.consent = static_cast<ConsentValue>(value);
        } else if (!in.skip(type)) {
            return false;
        }
    }
    return in.ok();
}

bool decode_consent_response(std::string_view data, Reply& reply) {
    Reader in(data);
    std::uint32_t field, type;
    reply.has_consent = true;
    while (in.next(field, type)) {
        if (field == 1 && type == kVarint) {
            std::uint64_t value;
            if (!in.varint(value)) return false;
            reply.global_consent = static_cast<ConsentValue>(value);
        } else if (field == 2 && type == kLengthDelimited) {
            std::string_view bytes;
            Reply::ToolConsent tool;
            if (!in.bytes(bytes) || !decode_tool_consent(bytes, tool)) return false;
            reply.tools.push_back(std::move(tool));
        } else if (!in.skip(type)) {
            return false;
        }
    }
    return in.ok();
}

// ManifestResponse: known = 1, summary = 4 (the rest is for `tk manifest`).
bool decode_manifest_response(std::string_view data, Reply& reply) {
    Reader in(data);
    std::uint32_t field, type;
    while (in.next(field, type)) {
        if (field == 1 && type == kVarint) {
            std::uint64_t value;
            if (!in.varint(value)) return false;
            reply.manifest_known = value != 0;
        } else if (field == 4 && type == kLengthDelimited) {
            std::string_view summary;
            if (!in.bytes(summary)) return false;
            reply.manifest_summary = std::string(summary);
        } else if (!in.skip(type)) {
            return false;
        }
    }
    return in.ok();
}

bool decode_control(std::string_view data, Reply& reply) {
    Reader in(data);
    std::uint32_t field, type;
    while (in.next(field, type)) {
        if (field == 1 && type == kVarint) {
            if (!in.varint(reply.request_id)) return false;
        } else if (field == 2 && type == kLengthDelimited) {
            std::string_view error;
            if (!in.bytes(error)) return false;
            reply.error = std::string(error);
        } else if (field == 4 && type == kLengthDelimited) {
            std::string_view consent;
            if (!in.bytes(consent) || !decode_consent_response(consent, reply)) return false;
        } else if (field == 17 && type == kLengthDelimited) {
            std::string_view manifest;
            if (!in.bytes(manifest) || !decode_manifest_response(manifest, reply)) return false;
        } else if (!in.skip(type)) {
            return false;
        }
    }
    return in.ok();
}

bool decode_error(std::string_view data, Reply& reply) {
    Reader in(data);
    std::uint32_t field, type;
    while (in.next(field, type)) {
        if (field == 1 && type == kLengthDelimited) {
            std::string_view reason;
            if (!in.bytes(reason)) return false;
            reply.error = std::string(reason);
        } else if (!in.skip(type)) {
            return false;
        }
    }
    return in.ok();
}

}  // namespace

void encode_event(std::string& out, const EventFields& event) {
    put_bytes(out, 1, event.id);
    put_bytes(out, 2, event.tool);
    put_bytes(out, 3, event.tool_version);
    put_uint(out, 4, static_cast<std::uint32_t>(event.kind));
    put_bytes(out, 5, event.name);
    put_uint(out, 6, static_cast<std::uint64_t>(event.timestamp_unix_ms));
    for (std::size_t i = 0; i < event.attribute_count; ++i) put_attribute(out, event.attributes[i]);
    // `optional` fields: written whenever set, even to a default value.
    if (event.success) put_uint(out, 8, *event.success ? 1 : 0, true);
    if (event.duration_us) put_uint(out, 9, static_cast<std::uint64_t>(*event.duration_us), true);
    // int32: negative values are sign-extended to 64 bits on the wire.
    if (event.exit_code) put_uint(out, 10, static_cast<std::uint64_t>(std::int64_t{*event.exit_code}), true);
}

std::string encode_tool_identity(const Config& config) {
    std::string out;
    put_bytes(out, 1, config.tool);
    put_bytes(out, 2, config.version);
    put_bytes(out, 3, config.endpoint);
    put_bytes(out, 4, config.ingest_key);
    put_uint(out, 5, config.consent_mode == ConsentMode::opt_out ? 1 : 0);
    put_uint(out, 6, config.allow_ci ? 1 : 0);
    put_uint(out, 7, config.local_only ? 1 : 0);
    put_uint(out, 16, config.manifest_required ? 1 : 0);
    return out;
}

std::string encode_signals(const Signals& signals) {
    std::string out;
    if (signals.do_not_track) put_bytes(out, 1, *signals.do_not_track);
    if (signals.tool_disabled) put_bytes(out, 2, *signals.tool_disabled);
    for (const auto& marker : signals.ci_markers) put_bytes(out, 3, marker, true);
    put_uint(out, 4, signals.do_not_track ? 1 : 0);
    put_uint(out, 5, signals.tool_disabled ? 1 : 0);
    return out;
}

std::string hello_frame(std::string_view tool_identity, std::string_view signals) {
    std::string hello;
    put_uint(hello, 1, 1);  // protocol_version
    put_bytes(hello, 2, tool_identity, true);
    put_bytes(hello, 3, signals, true);
    std::string frame;
    put_bytes(frame, 1, hello, true);
    std::string out;
    append_frame(out, frame);
    return out;
}

std::size_t event_frame_size(std::size_t event_size) { return kHeaderBytes + 1 + varint_size(event_size) + event_size; }

void append_event_frame(std::string& out, std::string_view event) {
    const std::size_t payload = 1 + varint_size(event.size()) + event.size();
    append_header(out, static_cast<std::uint32_t>(payload));
    put_bytes(out, 2, event, true);
}

void append_flush_frame(std::string& out, std::uint64_t request_id, std::uint32_t deadline_ms) {
    std::string flush;
    put_uint(flush, 1, request_id);
    put_uint(flush, 2, deadline_ms);
    std::string frame;
    put_bytes(frame, 3, flush, true);
    append_frame(out, frame);
}

std::string consent_request_frame(std::uint64_t request_id, ConsentAction action, std::string_view tool) {
    std::string consent;
    put_uint(consent, 1, static_cast<std::uint32_t>(action));
    put_bytes(consent, 2, tool);
    std::string control;
    put_uint(control, 1, request_id);
    put_bytes(control, 3, consent, true);
    std::string frame;
    put_bytes(frame, 4, control, true);
    std::string out;
    append_frame(out, frame);
    return out;
}

std::string manifest_request_frame(std::uint64_t request_id, std::string_view tool) {
    std::string manifest;
    put_bytes(manifest, 1, tool);
    std::string control;
    put_uint(control, 1, request_id);
    put_bytes(control, 17, manifest, true);
    std::string frame;
    put_bytes(frame, 4, control, true);
    std::string out;
    append_frame(out, frame);
    return out;
}

std::string spool_record_prefix(std::string_view tool_identity, std::string_view signals) {
    std::string out;
    put_bytes(out, 1, tool_identity, true);
    put_bytes(out, 2, signals, true);
    return out;
}

void append_spool_record(std::string& out, std::string_view prefix, std::string_view event) {
    const std::size_t header = tk::spool::begin_record(out);
    out.append(prefix);
    put_bytes(out, 3, event, true);
    tk::spool::finish_record(out, header);
}

bool decode_reply(std::string_view payload, Reply& reply) {
    reply = Reply{};
    Reader in(payload);
    std::uint32_t field, type;
    while (in.next(field, type)) {
        if (type != kLengthDelimited || field < 1 || field > 3) {
            if (!in.skip(type)) return false;
            continue;
        }
        std::string_view body;
        if (!in.bytes(body)) return false;
        bool parsed = false;
        switch (field) {
            case 1:
                reply.type = Reply::Type::flush_ack;
                parsed = decode_flush_ack(body, reply);
                break;
            case 2:
                reply.type = Reply::Type::control;
                parsed = decode_control(body, reply);
                break;
            case 3:
                reply.type = Reply::Type::error;
                parsed = decode_error(body, reply);
                break;
            default: break;
        }
        if (!parsed) return false;
    }
    return in.ok();
}

}  // namespace telemetry_kit::detail::wire
