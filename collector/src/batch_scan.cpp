// The wire walk behind scan_batch(): field tags and lengths of a Batch, its events, their
// attribute map entries and attribute values, and a cost for each, without building a message.
#include "tk/collector/batch_scan.hpp"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <google/protobuf/wire_format_lite.h>

#include <memory>

#include "telemetry_kit/v1/collector.pb.h"

namespace tk::collector {

namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

/// The messages whose fields the walk knows; every other length-delimited field is a leaf.
enum class Level { batch, event, map_entry, attribute_value };

// Costs, in heap bytes, generous on purpose (the unit tests hold them against the real heap):
// every field may become an unknown-field record (16 bytes, in a vector that grows by doubling),
// every string a heap std::string with malloc's own overhead, every message a heap object with
// a slot in its parent's repeated field and an unknown-field set.
constexpr std::size_t kFieldCost = 32;
constexpr std::size_t kStringCost = sizeof(std::string) + 48;
constexpr std::size_t kMessageCost = 96;
constexpr std::size_t kEventCost = sizeof(telemetry_kit::v1::Event) + kMessageCost;
// A map node holds the key and the value message, a next pointer, and buckets at load <= 0.75.
constexpr std::size_t kMapEntryCost =
    sizeof(std::string) + sizeof(telemetry_kit::v1::AttributeValue) + kMessageCost + 64;

/// The message a length-delimited field of `level` holds, if the walk descends into it.
std::optional<Level> child_of(Level level, int field) {
    if (level == Level::batch && field == 1) return Level::event;
    if (level == Level::event && field == 7) return Level::map_entry;
    if (level == Level::map_entry && field == 2) return Level::attribute_value;
    return std::nullopt;
}

std::size_t cost_of(Level level) {
    switch (level) {
        case Level::event: return kEventCost;
        case Level::map_entry: return kMapEntryCost;
        case Level::attribute_value: return kMessageCost;
        case Level::batch: return 0;
    }
    return 0;
}

struct Walk {
    std::size_t max_events;
    BatchShape& shape;
    std::optional<std::string> error;

    bool fail(std::string message) {
        error = std::move(message);
        return false;
    }

    /// Walks the fields of one message of `level` up to the stream's current limit.
    bool message(CodedInputStream& in, Level level) {
        for (;;) {
            const std::uint32_t tag = in.ReadTag();
            if (tag == 0) return in.ConsumedEntireMessage() || fail("malformed protobuf batch\n");
            shape.parsed_bytes += kFieldCost;
            const int field = WireFormatLite::GetTagFieldNumber(tag);
            if (field == 0) return fail("malformed protobuf batch\n");
            switch (WireFormatLite::GetTagWireType(tag)) {
                case WireFormatLite::WIRETYPE_VARINT: {
                    std::uint64_t ignored = 0;
                    if (!in.ReadVarint64(&ignored)) return fail("malformed protobuf batch\n");
                    break;
                }
                case WireFormatLite::WIRETYPE_FIXED64: {
                    std::uint64_t ignored = 0;
                    if (!in.ReadLittleEndian64(&ignored)) return fail("malformed protobuf batch\n");
                    break;
                }
                case WireFormatLite::WIRETYPE_FIXED32: {
                    std::uint32_t ignored = 0;
                    if (!in.ReadLittleEndian32(&ignored)) return fail("malformed protobuf batch\n");
                    break;
                }
                case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
                    if (!length_delimited(in, level, field)) return false;
                    break;
                default:  // groups (3, 4) and the unused wire types 6 and 7
                    return fail("malformed protobuf batch (groups and unknown wire types are refused)\n");
            }
        }
    }

    bool length_delimited(CodedInputStream& in, Level level, int field) {
        std::uint32_t length = 0;
        if (!in.ReadVarint32(&length) || length > static_cast<std::uint32_t>(in.BytesUntilLimit())) {
            return fail("malformed protobuf batch\n");
        }
        const auto child = child_of(level, field);
        if (!child) {
            shape.parsed_bytes += kStringCost + length;
            return in.Skip(static_cast<int>(length)) || fail("malformed protobuf batch\n");
        }
        if (*child == Level::event && ++shape.events > max_events) {
            // Stop here: the rest of a body this large is not worth reading.
            return fail(fmt::format("too many events: more than {} (at most {} per batch)\n", max_events, max_events));
        }
        shape.parsed_bytes += cost_of(*child);
        const auto limit = in.PushLimit(static_cast<int>(length));
        if (!message(in, *child)) return false;
        in.PopLimit(limit);
        return true;
    }
};

}  // namespace

std::optional<std::string> scan_batch(std::string_view wire, std::size_t max_events, BatchShape& shape) {
    shape = {};
    if (wire.size() > static_cast<std::size_t>(INT32_MAX)) return std::string("malformed protobuf batch\n");
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(wire.data()), static_cast<int>(wire.size()));
    Walk walk{max_events, shape, std::nullopt};
    if (!walk.message(in, Level::batch)) return walk.error;
    return std::nullopt;
}

std::optional<std::string> batch_json_to_wire(const std::string& json, std::string& wire) {
    static const std::unique_ptr<google::protobuf::util::TypeResolver> resolver(
        google::protobuf::util::NewTypeResolverForDescriptorPool("type.googleapis.com",
                                                                 google::protobuf::DescriptorPool::generated_pool()));
    static const std::string type_url = "type.googleapis.com/" + telemetry_kit::v1::Batch::descriptor()->full_name();
    wire.clear();
    const auto status = google::protobuf::util::JsonToBinaryString(resolver.get(), type_url, json, &wire);
    if (!status.ok()) return "malformed JSON batch: " + std::string(status.message().substr(0, 200)) + "\n";
    return std::nullopt;
}

}  // namespace tk::collector
