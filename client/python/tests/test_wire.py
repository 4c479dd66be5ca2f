"""The bytes of protocol.md's worked example ("Writing a client", step 4 and the spool record)."""

import uuid

import telemetry_kit as _wire  # the wire format lives in the package module itself

HELLO = "00000017 0a15 0801 120f 0a066d792d636c69 1205312e322e30 1a00"
EVENT = ("0000004f 124d 0a1001a236325d0070008000000000000001 12066d792d636c69 1a05312e322e30 2001"
         " 2a056275696c64 3080bac9b1a334 3a13 0a06746172676574 12090a0772656c65617365 4001 48dc0b 5000")
FLUSH = "00000007 1a05 0801 10d00f"


def hexbytes(text):
    return bytes.fromhex(text.replace(" ", ""))


def test_the_worked_example_byte_for_byte():
    identity = _wire.encode_tool_identity("my-cli", "1.2.0", "", "", False, False, False)
    signals = _wire.encode_signals(None, None, [])
    assert _wire.hello_frame(identity, signals) == hexbytes(HELLO)
    event = _wire.encode_event(uuid.UUID("01a23632-5d00-7000-8000-000000000001").bytes,
                               _wire.tool_fields(b"my-cli", b"1.2.0"), _wire.KIND_COMMAND, "build",
                               1796205600000, {"target": "release"}, True, 1500, 0)
    assert _wire.event_frame(event) == hexbytes(EVENT)
    assert _wire.flush_frame(1, 2000) == hexbytes(FLUSH)
    record = _wire.spool_record(_wire.spool_prefix(identity, signals), event)
    assert record[:12] == hexbytes("544b5331 00000062 53b3ca0a")


def test_flush_ack_and_error_replies():
    assert _wire.decode_reply(hexbytes("0a04 0801 1001")) == ("flush_ack", 1)
    assert _wire.decode_reply(hexbytes("1a04 0a02 6e6f")) == ("error", "no")


def test_negative_values_are_ten_byte_varints():
    event = _wire.encode_event(b"\0" * 16, b"", _wire.KIND_CUSTOM, "x", 1, {"n": -1}, exit_code=-1)
    assert event.endswith(b"\x50" + b"\xff" * 9 + b"\x01")
    assert b"\x10" + b"\xff" * 9 + b"\x01" in event


def test_manifest_required_is_field_16():
    # The same bytes as Go's TestManifestRequiredIsField16: field 16 takes a two-byte tag (80 01).
    identity = _wire.encode_tool_identity("t", "", "", "", False, False, False, manifest_required=True)
    assert identity == hexbytes("0a0174 800101")
    # Unset, it is left out (proto3's default), as the worked example above relies on.
    assert _wire.encode_tool_identity("t", "", "", "", False, False, False) == hexbytes("0a0174")
