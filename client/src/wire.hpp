#pragma once
/// The few protobuf messages the client writes and reads, encoded by hand.
///
/// Why not the generated classes: they would pull libprotobuf (a C++ ABI that must match the
/// host's) into every tool that links the client, including Rust/Go/Python tools through the
/// C ABI, and triple the library's size. The field numbers below are those of
/// proto/telemetry_kit/v1/{event,agent}.proto; tests/client/test_wire.cpp parses every
/// message written here with the generated classes, and writes every message read here with them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry_kit/client.hpp"
#include "tk/common/framing.hpp"

namespace telemetry_kit::detail::wire {

/// EventKind values of event.proto.
enum class Kind : std::uint32_t { command = 1, feature = 2, custom = 3 };

/// Consent values of agent.proto.
enum class ConsentValue : std::uint32_t { unset = 0, granted = 1, denied = 2 };

/// ConsentRequest.Action values of agent.proto.
enum class ConsentAction : std::uint32_t { status = 0, grant = 1, deny = 2, reset = 3 };

/// The opt-out signals of this process (OptOutSignals).
struct Signals {
    std::optional<std::string> do_not_track;
    std::optional<std::string> tool_disabled;
    std::vector<std::string> ci_markers;
};

/// One event as the client builds it (Event, without the agent-only fields).
struct EventFields {
    std::string_view id;  // 16 bytes
    std::string_view tool;
    std::string_view tool_version;
    Kind kind = Kind::custom;
    std::string_view name;
    std::int64_t timestamp_unix_ms = 0;
    const Attribute* attributes = nullptr;
    std::size_t attribute_count = 0;
    std::optional<bool> success;
    std::optional<std::int64_t> duration_us;
    std::optional<std::int32_t> exit_code;
};

/// Serialized `Event`.
void encode_event(std::string& out, const EventFields& event);
/// Serialized `ToolIdentity`.
std::string encode_tool_identity(const Config& config);
/// Serialized `OptOutSignals`.
std::string encode_signals(const Signals& signals);

/// Framed `ClientFrame{hello}` from serialized ToolIdentity and OptOutSignals.
std::string hello_frame(std::string_view tool_identity, std::string_view signals);
/// Appends a framed `ClientFrame{event}` holding the serialized `event`.
void append_event_frame(std::string& out, std::string_view event);
/// Appends a framed `ClientFrame{flush}`.
void append_flush_frame(std::string& out, std::uint64_t request_id, std::uint32_t deadline_ms);
/// Framed `ClientFrame{control{request_id, consent{action, tool}}}`.
std::string consent_request_frame(std::uint64_t request_id, ConsentAction action, std::string_view tool);
/// Framed `ClientFrame{control{request_id, manifest{tool}}}`.
std::string manifest_request_frame(std::uint64_t request_id, std::string_view tool);
/// Appends a `SpoolRecord` as one spool record (tk/common/spool_format.hpp: magic, length,
/// CRC-32, payload); `prefix` is `spool_record_prefix(...)`.
void append_spool_record(std::string& out, std::string_view prefix, std::string_view event);
/// The fields of a SpoolRecord every record of this process shares (tool and signals).
std::string spool_record_prefix(std::string_view tool_identity, std::string_view signals);
/// Bytes of the frame append_event_frame writes for an event of `event_size` bytes.
std::size_t event_frame_size(std::size_t event_size);

/// What the agent said (AgentReply), reduced to what the client uses.
struct Reply {
    enum class Type { unknown, flush_ack, control, error } type = Type::unknown;
    std::uint64_t request_id = 0;                             // flush_ack and control
    std::uint64_t accepted = 0, dropped = 0, duplicates = 0;  // flush_ack
    std::string error;                                        // error.reason, or control.error
    bool has_consent = false;                                 // control.consent present
    ConsentValue global_consent = ConsentValue::unset;
    struct ToolConsent {
        std::string tool;
        ConsentValue consent = ConsentValue::unset;
    };
    std::vector<ToolConsent> tools;
    bool manifest_known = false;   // control.manifest.known
    std::string manifest_summary;  // control.manifest.summary
};

/// Parses one AgentReply payload (without its length prefix). False if malformed.
bool decode_reply(std::string_view payload, Reply& reply);

/// The frame header: tk/common/framing.hpp's.
using tk::framing::append_frame;
using tk::framing::append_header;
using tk::framing::kHeaderBytes;
using tk::framing::read_header;

}  // namespace telemetry_kit::detail::wire
