"""The few protobuf messages the client writes and reads, encoded by hand.

Field numbers are those of proto/telemetry_kit/v1/{event,agent}.proto (docs/protocol.md); the
encoding is byte for byte the C++ client's (client/src/wire.cpp), so the tests compare against
what the real agent stores rather than against a second encoder.
"""

# No imports at all: even a built-in module costs a one-event CLI ~0.1-0.2 ms to import
# (docs/benchmarks.md); lengths are int.to_bytes, and _struct is imported only for a float attribute.

KIND_COMMAND = 1
KIND_FEATURE = 2
KIND_CUSTOM = 3

_VARINT = 0
_FIXED64 = 1
_LENGTH = 2
_FIXED32 = 5
_U64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

MAX_FRAME_BYTES = 1 << 20
SPOOL_MAGIC = b"TKS1"


_SMALL = [bytes((i,)) for i in range(128)]  # one-byte varints, ready-made


def varint(value):
    """Unsigned LEB128; a negative value is its 64-bit two's complement (as protobuf's int64)."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    value &= _U64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field, wire_type):
    return varint((field << 3) | wire_type)


def _uint(field, value, always=False):
    if not value and not always:
        return b""
    return _tag(field, _VARINT) + varint(value)


def _bytes(field, data, always=False):
    if not data and not always:
        return b""
    return _tag(field, _LENGTH) + varint(len(data)) + data


# The event is encoded on the tool's thread for every call, so its fields are written with
# ready-made tags (field << 3 | wire type) rather than through the helpers above.
_T_ID, _T_KIND, _T_NAME, _T_TIME, _T_ATTR = b"\x0a\x10", b"\x20", b"\x2a", b"\x30", b"\x3a"
_T_SUCCESS, _T_DURATION, _T_EXIT = b"\x40", b"\x48", b"\x50"
_V_STRING, _V_INT, _V_DOUBLE, _V_BOOL = b"\x0a", b"\x10", b"\x19", b"\x20"


def _double(value):
    import _struct
    return _struct.pack("<d", value)


def _attribute(key, value):
    # AttributeValue is a oneof: the chosen field is written even when it holds a default value.
    if value is True or value is False:
        encoded = _V_BOOL + (b"\x01" if value else b"\x00")
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            encoded = _V_INT + varint(value)
        else:  # beyond int64: kept as a double rather than lost
            encoded = _V_DOUBLE + _double(float(value))
    elif isinstance(value, float):
        encoded = _V_DOUBLE + _double(value)
    else:
        text = str(value).encode("utf-8", "replace")
        encoded = _V_STRING + varint(len(text)) + text
    key_bytes = key.encode("utf-8", "replace")
    entry = (b"\x0a" + varint(len(key_bytes)) + key_bytes if key_bytes else b"") + b"\x12" + varint(len(encoded)) + encoded
    return _T_ATTR + varint(len(entry)) + entry


def tool_fields(tool, tool_version):
    """Event fields 2 and 3 (bytes), the same in every event of a client: encoded once."""
    return _bytes(2, tool) + _bytes(3, tool_version)


def encode_event(event_id, tool_and_version, kind, name, timestamp_ms, attributes,
                 success=None, duration_us=None, exit_code=None):
    """Serialized `Event` (without the agent-only fields); `tool_and_version` is tool_fields()."""
    name_bytes = name.encode("utf-8", "replace")
    parts = [_T_ID, event_id, tool_and_version, _T_KIND, varint(kind)]
    if name_bytes:
        parts += (_T_NAME, varint(len(name_bytes)), name_bytes)
    if timestamp_ms:
        parts += (_T_TIME, varint(timestamp_ms))
    if attributes:
        for key, value in attributes.items():
            parts.append(_attribute(str(key), value))
    # `optional` fields: written whenever set, even to a default value.
    if success is not None:
        parts += (_T_SUCCESS, b"\x01" if success else b"\x00")
    if duration_us is not None:
        parts += (_T_DURATION, varint(int(duration_us)))
    if exit_code is not None:
        # int32 on the wire: sign-extended to 64 bits, as protobuf does.
        code = int(exit_code) & 0xFFFFFFFF
        parts += (_T_EXIT, varint(code - (1 << 32) if code >= 1 << 31 else code))
    return b"".join(parts)


def encode_tool_identity(tool, version, endpoint, ingest_key, opt_out, allow_ci, local_only):
    return b"".join((_bytes(1, tool.encode()), _bytes(2, version.encode()), _bytes(3, endpoint.encode()),
                     _bytes(4, ingest_key.encode()), _uint(5, 1 if opt_out else 0),
                     _uint(6, 1 if allow_ci else 0), _uint(7, 1 if local_only else 0)))


def encode_signals(do_not_track, tool_disabled, ci_markers):
    """`OptOutSignals`: the raw values (None = unset) and the names of the CI variables set."""
    parts = []
    if do_not_track is not None:
        parts.append(_bytes(1, do_not_track.encode("utf-8", "surrogateescape")))
    if tool_disabled is not None:
        parts.append(_bytes(2, tool_disabled.encode("utf-8", "surrogateescape")))
    for marker in ci_markers:
        parts.append(_bytes(3, marker.encode(), True))
    parts.append(_uint(4, 1 if do_not_track is not None else 0))
    parts.append(_uint(5, 1 if tool_disabled is not None else 0))
    return b"".join(parts)


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


def hello_frame(identity, signals):
    hello = _uint(1, 1) + _bytes(2, identity, True) + _bytes(3, signals, True)
    return frame(_bytes(1, hello, True))


def event_frame(event):
    return frame(_bytes(2, event, True))


def flush_frame(request_id, deadline_ms):
    return frame(_bytes(3, _uint(1, request_id) + _uint(2, deadline_ms), True))


def spool_prefix(identity, signals):
    """The fields of a SpoolRecord that every record of this process shares."""
    return _bytes(1, identity, True) + _bytes(2, signals, True)


def spool_record(prefix, event):
    """One spool record: "TKS1", length, CRC-32 (of the length bytes and the payload), payload."""
    import zlib  # only a tool that spools needs the checksum
    payload = prefix + _bytes(3, event, True)
    length = len(payload).to_bytes(4, "big")
    return SPOOL_MAGIC + length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "big") + payload


def read_header(data, at=0):
    if at < 0 or len(data) - at < 4:
        raise ValueError("a frame header needs 4 bytes")
    return int.from_bytes(data[at:at + 4], "big")


class Malformed(ValueError):
    pass


def _fields(data):
    """Yields (field, wire_type, value) of a protobuf message; raises Malformed."""
    pos, end = 0, len(data)

    def read_varint():
        nonlocal pos
        value = shift = 0
        while shift < 64:
            if pos >= end:
                raise Malformed("truncated varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise Malformed("varint too long")

    while pos < end:
        key = read_varint()
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise Malformed("field 0")
        if wire_type == _VARINT:
            yield field, wire_type, read_varint()
        elif wire_type == _LENGTH:
            size = read_varint()
            if size > end - pos:
                raise Malformed("truncated bytes")
            yield field, wire_type, bytes(data[pos:pos + size])
            pos += size
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if size > end - pos:
                raise Malformed("truncated fixed")
            yield field, wire_type, bytes(data[pos:pos + size])
            pos += size
        else:
            raise Malformed("unsupported wire type")


def decode_reply(payload):
    """An AgentReply reduced to what the client uses: ("flush_ack", request_id), ("error",
    reason), or ("other", None). Raises Malformed."""
    kind, value = "other", None
    for field, wire_type, body in _fields(payload):
        if wire_type != _LENGTH:
            continue
        if field == 1:
            kind, value = "flush_ack", 0
            for f, t, v in _fields(body):
                if f == 1 and t == _VARINT:
                    value = v
        elif field == 3:
            kind, value = "error", ""
            for f, t, v in _fields(body):
                if f == 1 and t == _LENGTH:
                    value = v.decode("utf-8", "replace")
        elif field == 2:
            kind, value = "other", None
    return kind, value
