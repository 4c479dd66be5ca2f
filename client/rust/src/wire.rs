//! The few protobuf messages the client writes and reads, encoded by hand: the field numbers of
//! proto/telemetry_kit/v1/{event,agent}.proto, byte for byte the C++ client's encoding
//! (client/src/wire.cpp).

use crate::Value;

pub const KIND_COMMAND: u64 = 1;
pub const KIND_FEATURE: u64 = 2;
pub const KIND_CUSTOM: u64 = 3;
pub const MAX_FRAME_BYTES: usize = 1 << 20;
pub const SPOOL_MAGIC: &[u8; 4] = b"TKS1";

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH: u64 = 2;
const FIXED32: u64 = 5;

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    put_varint(out, (field << 3) | wire_type);
}

/// proto3 scalars: a default value is not written unless the field has presence (`always`).
fn put_uint(out: &mut Vec<u8>, field: u64, value: u64, always: bool) {
    if value == 0 && !always {
        return;
    }
    put_tag(out, field, VARINT);
    put_varint(out, value);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, data: &[u8], always: bool) {
    if data.is_empty() && !always {
        return;
    }
    put_tag(out, field, LENGTH);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn put_attribute(out: &mut Vec<u8>, key: &str, value: &Value) {
    // AttributeValue is a oneof: the chosen field is written even when it holds a default value.
    let mut encoded = Vec::with_capacity(16);
    match value {
        Value::Str(text) => put_bytes(&mut encoded, 1, text.as_bytes(), true),
        Value::Int(number) => put_uint(&mut encoded, 2, *number as u64, true),
        Value::Float(real) => {
            put_tag(&mut encoded, 3, FIXED64);
            encoded.extend_from_slice(&real.to_le_bytes());
        }
        Value::Bool(flag) => put_uint(&mut encoded, 4, *flag as u64, true),
    }
    let mut entry = Vec::with_capacity(encoded.len() + key.len() + 4);
    put_bytes(&mut entry, 1, key.as_bytes(), false);
    put_bytes(&mut entry, 2, &encoded, true);
    put_bytes(out, 7, &entry, true);
}

/// One event as the client builds it (Event without the agent-only fields).
pub struct EventFields<'a> {
    pub id: [u8; 16],
    pub tool: &'a str,
    pub tool_version: &'a str,
    pub kind: u64,
    pub name: &'a str,
    pub timestamp_unix_ms: i64,
    pub attributes: &'a [(String, Value)],
    pub success: Option<bool>,
    pub duration_us: Option<i64>,
    pub exit_code: Option<i32>,
}

pub fn encode_event(event: &EventFields) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + event.name.len() + 24 * event.attributes.len());
    put_bytes(&mut out, 1, &event.id, false);
    put_bytes(&mut out, 2, event.tool.as_bytes(), false);
    put_bytes(&mut out, 3, event.tool_version.as_bytes(), false);
    put_uint(&mut out, 4, event.kind, false);
    put_bytes(&mut out, 5, event.name.as_bytes(), false);
    put_uint(&mut out, 6, event.timestamp_unix_ms as u64, false);
    for (key, value) in event.attributes {
        put_attribute(&mut out, key, value);
    }
    // `optional` fields: written whenever set, even to a default value.
    if let Some(success) = event.success {
        put_uint(&mut out, 8, success as u64, true);
    }
    if let Some(duration) = event.duration_us {
        put_uint(&mut out, 9, duration as u64, true);
    }
    if let Some(code) = event.exit_code {
        put_uint(&mut out, 10, code as i64 as u64, true); // int32: sign-extended to 64 bits
    }
    out
}

pub struct Identity<'a> {
    pub tool: &'a str,
    pub version: &'a str,
    pub endpoint: &'a str,
    pub ingest_key: &'a str,
    pub opt_out: bool,
    pub allow_ci: bool,
    pub local_only: bool,
    pub manifest_required: bool,
}

pub fn encode_tool_identity(id: &Identity) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, id.tool.as_bytes(), false);
    put_bytes(&mut out, 2, id.version.as_bytes(), false);
    put_bytes(&mut out, 3, id.endpoint.as_bytes(), false);
    put_bytes(&mut out, 4, id.ingest_key.as_bytes(), false);
    put_uint(&mut out, 5, id.opt_out as u64, false);
    put_uint(&mut out, 6, id.allow_ci as u64, false);
    put_uint(&mut out, 7, id.local_only as u64, false);
    put_uint(&mut out, 16, id.manifest_required as u64, false);
    out
}

/// `OptOutSignals`: the raw values (None = unset) and the names of the CI variables that are set.
pub fn encode_signals(do_not_track: Option<&[u8]>, tool_disabled: Option<&[u8]>, ci: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(value) = do_not_track {
        put_bytes(&mut out, 1, value, false);
    }
    if let Some(value) = tool_disabled {
        put_bytes(&mut out, 2, value, false);
    }
    for marker in ci {
        put_bytes(&mut out, 3, marker.as_bytes(), true);
    }
    put_uint(&mut out, 4, do_not_track.is_some() as u64, false);
    put_uint(&mut out, 5, tool_disabled.is_some() as u64, false);
    out
}

fn append_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn hello_frame(identity: &[u8], signals: &[u8]) -> Vec<u8> {
    let mut hello = Vec::new();
    put_uint(&mut hello, 1, 1, false);
    put_bytes(&mut hello, 2, identity, true);
    put_bytes(&mut hello, 3, signals, true);
    let mut frame = Vec::new();
    put_bytes(&mut frame, 1, &hello, true);
    let mut out = Vec::new();
    append_frame(&mut out, &frame);
    out
}

pub fn append_event_frame(out: &mut Vec<u8>, event: &[u8]) {
    let mut head = Vec::with_capacity(6);
    put_tag(&mut head, 2, LENGTH);
    put_varint(&mut head, event.len() as u64);
    out.extend_from_slice(&((head.len() + event.len()) as u32).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(event);
}

pub fn append_flush_frame(out: &mut Vec<u8>, request_id: u64, deadline_ms: u32) {
    let mut flush = Vec::new();
    put_uint(&mut flush, 1, request_id, false);
    put_uint(&mut flush, 2, deadline_ms as u64, false);
    let mut frame = Vec::new();
    put_bytes(&mut frame, 3, &flush, true);
    append_frame(out, &frame);
}

/// The fields of a SpoolRecord every record of this process shares (tool and signals).
pub fn spool_prefix(identity: &[u8], signals: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, identity, true);
    put_bytes(&mut out, 2, signals, true);
    out
}

/// One spool record: "TKS1", length, CRC-32 (of the 4 length bytes, then the payload), payload.
pub fn append_spool_record(out: &mut Vec<u8>, prefix: &[u8], event: &[u8]) {
    let mut payload = Vec::with_capacity(prefix.len() + event.len() + 6);
    payload.extend_from_slice(prefix);
    put_bytes(&mut payload, 3, event, true);
    let length = (payload.len() as u32).to_be_bytes();
    out.extend_from_slice(SPOOL_MAGIC);
    out.extend_from_slice(&length);
    out.extend_from_slice(&crc32(&payload, crc32(&length, 0)).to_be_bytes());
    out.extend_from_slice(&payload);
}

/// IEEE 802.3 CRC-32 (zlib's crc32()), continuing from `crc`.
pub fn crc32(data: &[u8], crc: u32) -> u32 {
    let mut c = !crc;
    for &byte in data {
        c ^= byte as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// What the agent said, reduced to what the client uses.
#[derive(Debug, PartialEq)]
pub enum Reply {
    FlushAck(u64),
    Error(String),
    Other,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        let mut shift = 0;
        while shift < 64 {
            let byte = *self.data.get(self.pos)?;
            self.pos += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
            shift += 7;
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() - self.pos {
            return None;
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Some(out)
    }

    /// Next (field, varint value or bytes); None at the end; Err when malformed.
    fn next(&mut self) -> Result<Option<(u64, u64, &'a [u8])>, ()> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let key = self.varint().ok_or(())?;
        let (field, wire_type) = (key >> 3, key & 7);
        if field == 0 {
            return Err(());
        }
        match wire_type {
            VARINT => Ok(Some((field, self.varint().ok_or(())?, &[]))),
            LENGTH => {
                let size = self.varint().ok_or(())? as usize;
                Ok(Some((field, u64::MAX, self.take(size).ok_or(())?)))
            }
            FIXED64 => Ok(Some((field, 0, self.take(8).ok_or(())?))),
            FIXED32 => Ok(Some((field, 0, self.take(4).ok_or(())?))),
            _ => Err(()),
        }
    }
}

/// Parses one AgentReply payload; Err if malformed.
pub fn decode_reply(payload: &[u8]) -> Result<Reply, ()> {
    let mut reply = Reply::Other;
    let mut outer = Reader { data: payload, pos: 0 };
    while let Some((field, value, body)) = outer.next()? {
        if value != u64::MAX {
            continue; // not length-delimited
        }
        let mut inner = Reader { data: body, pos: 0 };
        match field {
            1 => {
                let mut id = 0;
                while let Some((f, v, _)) = inner.next()? {
                    if f == 1 && v != u64::MAX {
                        id = v;
                    }
                }
                reply = Reply::FlushAck(id);
            }
            3 => {
                let mut reason = String::new();
                while let Some((f, v, b)) = inner.next()? {
                    if f == 1 && v == u64::MAX {
                        reason = String::from_utf8_lossy(b).into_owned();
                    }
                }
                reply = Reply::Error(reason);
            }
            _ => reply = Reply::Other,
        }
    }
    Ok(reply)
}

/// Framed `ClientFrame{control{request_id, consent{action, tool}}}` (caller unset: a tool). Actions
/// of agent.proto's ConsentRequest: 0 status, 1 grant, 2 deny.
pub fn consent_request_frame(request_id: u64, action: u64, tool: &str) -> Vec<u8> {
    let mut consent = Vec::new();
    put_uint(&mut consent, 1, action, false);
    put_bytes(&mut consent, 2, tool.as_bytes(), true);
    let mut control = Vec::new();
    put_uint(&mut control, 1, request_id, true);
    put_bytes(&mut control, 3, &consent, true);
    let mut body = Vec::new();
    put_bytes(&mut body, 4, &control, true);
    let mut out = Vec::new();
    append_frame(&mut out, &body);
    out
}

/// The tool's consent (0 unset, 1 granted, 2 denied) from an AgentReply payload; None if it is not
/// a successful ControlResponse to `request_id` or is malformed. Every tool switched off (the
/// global consent denied) is denied.
pub fn decode_consent_reply(payload: &[u8], request_id: u64, tool: &str) -> Option<u64> {
    let mut outer = Reader { data: payload, pos: 0 };
    let (field, value, body) = outer.next().ok()??;
    if field != 2 || value != u64::MAX {
        return None; // a FlushAck or an ErrorReply
    }
    let (mut answered, mut failed, mut response): (u64, bool, &[u8]) = (0, false, &[]);
    let mut control = Reader { data: body, pos: 0 };
    while let Some((f, v, b)) = control.next().ok()? {
        match (f, v == u64::MAX) {
            (1, false) => answered = v,
            (2, true) => failed = !b.is_empty(),
            (4, true) => response = b,
            _ => {}
        }
    }
    if answered != request_id || failed {
        return None;
    }
    let mut consent = 0;
    let mut reader = Reader { data: response, pos: 0 };
    while let Some((f, v, b)) = reader.next().ok()? {
        if f == 1 && v == 2 {
            return Some(2);
        }
        if f == 2 && v == u64::MAX {
            let (mut name, mut value) = (&[][..], 0);
            let mut entry = Reader { data: b, pos: 0 };
            while let Some((ef, ev, eb)) = entry.next().ok()? {
                match ef {
                    1 => name = eb,
                    2 => value = ev,
                    _ => {}
                }
            }
            if name == tool.as_bytes() {
                consent = value;
            }
        }
    }
    Some(consent)
}

/// Framed `ClientFrame{control{request_id, manifest{tool}}}` (as `tk manifest` asks).
pub fn manifest_request_frame(request_id: u64, tool: &str) -> Vec<u8> {
    let mut manifest = Vec::new();
    put_bytes(&mut manifest, 1, tool.as_bytes(), true);
    let mut control = Vec::new();
    put_uint(&mut control, 1, request_id, true);
    put_bytes(&mut control, 17, &manifest, true);
    let mut body = Vec::new();
    put_bytes(&mut body, 4, &control, true);
    let mut out = Vec::new();
    append_frame(&mut out, &body);
    out
}

/// The short form of the tool's manifest (ManifestResponse.summary) from an AgentReply payload;
/// None if the agent enforces none for the tool, refused, answered something else, or it is malformed.
pub fn decode_manifest_summary(payload: &[u8], request_id: u64) -> Option<String> {
    let mut outer = Reader { data: payload, pos: 0 };
    let (field, value, body) = outer.next().ok()??;
    if field != 2 || value != u64::MAX {
        return None; // a FlushAck or an ErrorReply
    }
    let (mut answered, mut failed, mut response): (u64, bool, &[u8]) = (0, false, &[]);
    let mut control = Reader { data: body, pos: 0 };
    while let Some((f, v, b)) = control.next().ok()? {
        match (f, v == u64::MAX) {
            (1, false) => answered = v,
            (2, true) => failed = !b.is_empty(),
            (17, true) => response = b,
            _ => {}
        }
    }
    if answered != request_id || failed {
        return None;
    }
    let (mut known, mut summary): (bool, &[u8]) = (false, &[]);
    let mut reader = Reader { data: response, pos: 0 };
    while let Some((f, v, b)) = reader.next().ok()? {
        match (f, v == u64::MAX) {
            (1, false) => known = v != 0,
            (4, true) => summary = b,
            _ => {}
        }
    }
    known.then(|| String::from_utf8_lossy(summary).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    /// protocol.md, "Writing a client": the worked example, byte for byte.
    #[test]
    fn the_worked_example_byte_for_byte() {
        let identity = encode_tool_identity(&Identity {
            tool: "my-cli", version: "1.2.0", endpoint: "", ingest_key: "", opt_out: false, allow_ci: false, local_only: false,
            manifest_required: false,
        });
        let signals = encode_signals(None, None, &[]);
        assert_eq!(hello_frame(&identity, &signals), hex("00000017 0a15 0801 120f 0a066d792d636c69 1205312e322e30 1a00"));
        let mut id = [0u8; 16];
        id.copy_from_slice(&hex("01a236325d0070008000000000000001"));
        let attributes = [("target".to_string(), Value::Str("release".into()))];
        let event = encode_event(&EventFields {
            id, tool: "my-cli", tool_version: "1.2.0", kind: KIND_COMMAND, name: "build", timestamp_unix_ms: 1796205600000,
            attributes: &attributes, success: Some(true), duration_us: Some(1500), exit_code: Some(0),
        });
        let mut frames = Vec::new();
        append_event_frame(&mut frames, &event);
        append_flush_frame(&mut frames, 1, 2000);
        assert_eq!(frames, hex("0000004f 124d 0a1001a236325d0070008000000000000001 12066d792d636c69 1a05312e322e30 2001
            2a056275696c64 3080bac9b1a334 3a13 0a06746172676574 12090a0772656c65617365 4001 48dc0b 5000
            00000007 1a05 0801 10d00f"));
        let mut record = Vec::new();
        append_spool_record(&mut record, &spool_prefix(&identity, &signals), &event);
        assert_eq!(record[..12], hex("544b5331 00000062 53b3ca0a")[..]);
    }

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789", 0), 0xCBF4_3926);
        assert_eq!(crc32(b"6789", crc32(b"12345", 0)), 0xCBF4_3926);
    }

    #[test]
    fn flush_ack_and_error_decode() {
        // AgentReply{flush_ack{request_id: 300}}
        assert_eq!(decode_reply(&[0x0a, 0x03, 0x08, 0xac, 0x02]), Ok(Reply::FlushAck(300)));
        assert_eq!(decode_reply(&[0x1a, 0x04, 0x0a, 0x02, b'n', b'o']), Ok(Reply::Error("no".into())));
        assert!(decode_reply(&[0x0a, 0x05, 0x08]).is_err());
    }

    #[test]
    fn consent_request_and_reply() {
        assert_eq!(consent_request_frame(1, 0, "t"), hex("00000009 2207 0801 1a03 120174"));
        let reply = |id: u8, response: &[u8]| {
            let mut control = vec![0x08, id, 0x22, response.len() as u8];
            control.extend_from_slice(response);
            let mut out = vec![0x12, control.len() as u8];
            out.extend_from_slice(&control);
            out
        };
        let tools = hex("12050a01741001 12050a01751002");
        assert_eq!(decode_consent_reply(&reply(1, &tools), 1, "t"), Some(1));
        assert_eq!(decode_consent_reply(&reply(1, &tools), 1, "u"), Some(2));
        assert_eq!(decode_consent_reply(&reply(1, &tools), 1, "v"), Some(0));
        assert_eq!(decode_consent_reply(&reply(2, &tools), 1, "t"), None);
        let mut off = hex("0802");
        off.extend_from_slice(&tools);
        assert_eq!(decode_consent_reply(&reply(1, &off), 1, "t"), Some(2));
        assert_eq!(decode_consent_reply(&hex("1a04 0a02 6e6f"), 1, "t"), None);
    }

    #[test]
    fn manifest_required_is_field_16() {
        let identity = encode_tool_identity(&Identity {
            tool: "t", version: "", endpoint: "", ingest_key: "", opt_out: false, allow_ci: false, local_only: false,
            manifest_required: true,
        });
        assert_eq!(identity, hex("0a0174 800101"));
    }

    #[test]
    fn manifest_request_and_reply() {
        assert_eq!(manifest_request_frame(1, "t"), hex("0000000a 2208 0801 8a0103 0a0174"));
        let reply = |id: u8, response: &[u8]| {
            let mut control = vec![0x08, id, 0x8a, 0x01, response.len() as u8];
            control.extend_from_slice(response);
            let mut out = vec![0x12, control.len() as u8];
            out.extend_from_slice(&control);
            out
        };
        assert_eq!(decode_manifest_summary(&reply(1, &hex("0801 220173")), 1), Some("s".into()));
        assert_eq!(decode_manifest_summary(&reply(1, &hex("220173")), 1), None); // not known: none in force
        assert_eq!(decode_manifest_summary(&reply(2, &hex("0801 220173")), 1), None);
        assert_eq!(decode_manifest_summary(&hex("1a04 0a02 6e6f"), 1), None);
    }

    #[test]
    fn negative_exit_code_is_sign_extended() {
        let event = EventFields {
            id: [0; 16], tool: "", tool_version: "", kind: 1, name: "", timestamp_unix_ms: 0,
            attributes: &[], success: None, duration_us: None, exit_code: Some(-1),
        };
        let bytes = encode_event(&event);
        assert_eq!(bytes[bytes.len() - 11], 0x50); // field 10, varint
        assert_eq!(bytes.len(), 2 + 16 + 2 + 11);
    }
}
