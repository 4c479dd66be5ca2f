"use strict";
// The few protobuf messages the client writes and reads, encoded by hand (docs/protocol.md,
// "Writing a client"): a protobuf library would be a runtime dependency, and this is ~20 fields.
// Field numbers are those of proto/telemetry_kit/v1/{event,agent}.proto. test/wire.test.js checks
// the bytes against the hex example of docs/protocol.md.
Object.defineProperty(exports, "__esModule", { value: true });
exports.Writer = exports.double = exports.DoubleValue = void 0;
exports.encodeEvent = encodeEvent;
exports.encodeToolIdentity = encodeToolIdentity;
exports.encodeSignals = encodeSignals;
exports.helloFrame = helloFrame;
exports.eventFrameSize = eventFrameSize;
exports.putEventFrame = putEventFrame;
exports.flushFrame = flushFrame;
exports.consentRequestFrame = consentRequestFrame;
exports.crc32 = crc32;
exports.spoolRecordPrefix = spoolRecordPrefix;
exports.spoolRecordSize = spoolRecordSize;
exports.putSpoolRecord = putSpoolRecord;
exports.decodeReply = decodeReply;
exports.putUuidV7 = putUuidV7;
exports.uuidText = uuidText;
exports.varintSize = varintSize;
const fs = require("fs");
const value_1 = require("./value");
var value_2 = require("./value");
Object.defineProperty(exports, "DoubleValue", { enumerable: true, get: function () { return value_2.DoubleValue; } });
Object.defineProperty(exports, "double", { enumerable: true, get: function () { return value_2.double; } });
// ---- a growable byte writer ----
/** Appends protobuf fields to a buffer that grows as needed. Nested messages reserve one length
 *  byte and move their body if it turns out longer (rare: only messages of 128 bytes or more). */
class Writer {
    constructor(capacity = 256) {
        this.pos = 0;
        this.buf = Buffer.allocUnsafe(capacity);
    }
    reset() {
        this.pos = 0;
    }
    ensure(extra) {
        if (this.pos + extra <= this.buf.length)
            return;
        let size = this.buf.length * 2;
        while (size < this.pos + extra)
            size *= 2;
        const bigger = Buffer.allocUnsafe(size);
        this.buf.copy(bigger, 0, 0, this.pos);
        this.buf = bigger;
    }
    byte(b) {
        this.ensure(1);
        this.buf[this.pos++] = b;
    }
    /** A varint of a non-negative safe integer. */
    varint(value) {
        this.ensure(10);
        const buf = this.buf;
        let pos = this.pos;
        while (value >= 0x80) {
            buf[pos++] = (value % 0x80) | 0x80;
            value = Math.floor(value / 0x80);
        }
        buf[pos++] = value;
        this.pos = pos;
    }
    /** A varint of a signed 64-bit value (two's complement: a negative number takes 10 bytes). */
    int64(value) {
        if (typeof value === 'number' && value >= 0) {
            this.varint(value);
            return;
        }
        let v = BigInt.asUintN(64, BigInt(value));
        this.ensure(10);
        while (v >= 0x80n) {
            this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
            v >>= 7n;
        }
        this.buf[this.pos++] = Number(v);
    }
    tag(field, wireType) {
        this.varint((field << 3) | wireType);
    }
    uintField(field, value, always = false) {
        if (value === 0 && !always)
            return;
        this.tag(field, 0);
        this.varint(value);
    }
    stringField(field, text, always = false) {
        if (text.length === 0 && !always)
            return;
        this.tag(field, 2);
        // Short strings (the usual case): at most 3 bytes per UTF-16 unit fits one length byte.
        if (text.length * 3 < 0x80) {
            this.ensure(1 + text.length * 3);
            const at = this.pos++;
            const written = this.buf.write(text, this.pos, 'utf8');
            this.buf[at] = written;
            this.pos += written;
            return;
        }
        const size = Buffer.byteLength(text, 'utf8');
        this.varint(size);
        this.ensure(size);
        this.pos += this.buf.write(text, this.pos, 'utf8');
    }
    bytesField(field, bytes, always = false) {
        if (bytes.length === 0 && !always)
            return;
        this.tag(field, 2);
        this.varint(bytes.length);
        this.ensure(bytes.length);
        this.buf.set(bytes, this.pos);
        this.pos += bytes.length;
    }
    doubleField(field, value) {
        this.tag(field, 1);
        this.ensure(8);
        this.buf.writeDoubleLE(value, this.pos);
        this.pos += 8;
    }
    /** Starts a length-delimited sub-message; returns the token for end(). */
    begin(field) {
        this.tag(field, 2);
        this.ensure(1);
        return this.pos++;
    }
    /** Ends the sub-message begun at `at`, writing its length (moving the body if it needs more bytes). */
    end(at) {
        const size = this.pos - at - 1;
        if (size < 0x80) {
            this.buf[at] = size;
            return;
        }
        let extra = 0;
        for (let v = size; v >= 0x80; v = Math.floor(v / 0x80))
            ++extra;
        this.ensure(extra);
        this.buf.copy(this.buf, at + 1 + extra, at + 1, this.pos);
        this.pos += extra;
        let v = size;
        let p = at;
        while (v >= 0x80) {
            this.buf[p++] = (v % 0x80) | 0x80;
            v = Math.floor(v / 0x80);
        }
        this.buf[p] = v;
    }
    /** A copy of what was written. */
    take() {
        return Buffer.from(this.buf.subarray(0, this.pos));
    }
}
exports.Writer = Writer;
// ---- messages ----
function encodeAttributeValue(w, value) {
    // AttributeValue is a oneof: the chosen member is written even when it holds a default value.
    switch (typeof value) {
        case 'string':
            w.stringField(1, value, true);
            return true;
        case 'boolean':
            w.uintField(4, value ? 1 : 0, true);
            return true;
        case 'bigint':
            if (value < -(2n ** 63n) || value >= 2n ** 63n)
                return false; // not an int64
            w.tag(2, 0);
            w.int64(value);
            return true;
        case 'number':
            if (Number.isSafeInteger(value)) {
                w.tag(2, 0);
                w.int64(value);
            }
            else {
                w.doubleField(3, value);
            }
            return true;
        default:
            if (value instanceof value_1.DoubleValue) {
                w.doubleField(3, value.value);
                return true;
            }
            return false; // null, undefined, objects: not an attribute value; left out
    }
}
function encodeAttribute(w, key, value) {
    const start = w.pos;
    const entry = w.begin(7); // map entry: {1: key, 2: AttributeValue}
    w.stringField(1, key);
    const inner = w.begin(2);
    if (!encodeAttributeValue(w, value)) {
        w.pos = start;
        return;
    }
    w.end(inner);
    w.end(entry);
}
/** Serializes an `Event` (fields in number order, canonical: docs/protocol.md §4). */
function encodeEvent(w, tool, toolVersion, event) {
    w.bytesField(1, event.id);
    w.stringField(2, tool);
    w.stringField(3, toolVersion);
    w.uintField(4, event.kind);
    w.stringField(5, event.name);
    w.uintField(6, event.timestampUnixMs);
    const attributes = event.attributes;
    if (attributes !== undefined) {
        if (attributes instanceof Map) {
            for (const [key, value] of attributes)
                encodeAttribute(w, key, value);
        }
        else {
            for (const key in attributes)
                encodeAttribute(w, key, attributes[key]);
        }
    }
    // `optional` fields: written whenever set, even to false / 0.
    if (event.success !== undefined)
        w.uintField(8, event.success ? 1 : 0, true);
    if (event.durationUs !== undefined) {
        w.tag(9, 0);
        w.int64(event.durationUs);
    }
    if (event.exitCode !== undefined) {
        w.tag(10, 0);
        w.int64(event.exitCode); // int32: negative values sign-extended to 64 bits
    }
}
function encodeToolIdentity(identity) {
    const w = new Writer(128);
    w.stringField(1, identity.tool);
    w.stringField(2, identity.version);
    w.stringField(3, identity.endpoint);
    w.stringField(4, identity.ingestKey);
    w.uintField(5, identity.optOut ? 1 : 0);
    w.uintField(6, identity.allowCi ? 1 : 0);
    w.uintField(7, identity.localOnly ? 1 : 0);
    w.uintField(16, identity.manifestRequired ? 1 : 0); // a two-byte tag: 80 01
    return w.take();
}
function encodeSignals(signals) {
    const w = new Writer(64);
    if (signals.doNotTrack !== undefined)
        w.stringField(1, signals.doNotTrack);
    if (signals.toolDisabled !== undefined)
        w.stringField(2, signals.toolDisabled);
    for (const marker of signals.ciMarkers)
        w.stringField(3, marker, true);
    w.uintField(4, signals.doNotTrack !== undefined ? 1 : 0);
    w.uintField(5, signals.toolDisabled !== undefined ? 1 : 0);
    return w.take();
}
function frame(payload) {
    const out = Buffer.allocUnsafe(4 + payload.length);
    out.writeUInt32BE(payload.length, 0);
    payload.copy(out, 4);
    return out;
}
/** Framed `ClientFrame{hello}`. */
function helloFrame(identity, signals) {
    const w = new Writer(identity.length + signals.length + 32);
    const hello = w.begin(1);
    w.uintField(1, 1); // protocol_version
    w.bytesField(2, identity, true);
    w.bytesField(3, signals, true);
    w.end(hello);
    return frame(w.take());
}
/** Bytes of the frame `appendEventFrame` writes for an event of `size` bytes. */
function eventFrameSize(size) {
    return 4 + 1 + varintSize(size) + size;
}
/** Writes a framed `ClientFrame{event}` holding the serialized `event` into `out` at `at`;
 *  returns the offset after it. */
function putEventFrame(out, at, event) {
    const payload = 1 + varintSize(event.length) + event.length;
    out.writeUInt32BE(payload, at);
    at += 4;
    out[at++] = 0x12; // field 2, length-delimited
    at = putVarint(out, at, event.length);
    event.copy(out, at);
    return at + event.length;
}
/** Framed `ClientFrame{flush{request_id, deadline_ms}}`. */
function flushFrame(requestId, deadlineMs) {
    const w = new Writer(32);
    const flush = w.begin(3);
    w.uintField(1, requestId);
    w.uintField(2, deadlineMs);
    w.end(flush);
    return frame(w.take());
}
/** Framed `ClientFrame{control{request_id, consent{action, tool}}}` (caller unset: a tool). */
function consentRequestFrame(requestId, action, tool) {
    const w = new Writer(64);
    const control = w.begin(4);
    w.uintField(1, requestId);
    const consent = w.begin(3);
    w.uintField(1, action);
    w.stringField(2, tool);
    w.end(consent);
    w.end(control);
    return frame(w.take());
}
// ---- the spool record (docs/protocol.md §6) ----
// Made on the first spool record: an agent that acknowledges never needs it (2,048 interpreted
// loop steps at import a one-event CLI would pay for nothing).
let crcTable;
function makeCrcTable() {
    const table = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
        let c = i;
        for (let k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        table[i] = c;
    }
    return table;
}
/** CRC-32 (IEEE 802.3, zlib's) of `bytes`, continuing from `crc`. */
function crc32(bytes, crc = 0) {
    const table = (crcTable ??= makeCrcTable());
    let c = ~crc;
    for (let i = 0; i < bytes.length; i++)
        c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return ~c >>> 0;
}
/** The SpoolRecord fields every record of this client shares: tool (1) and signals (2). */
function spoolRecordPrefix(identity, signals) {
    const w = new Writer(identity.length + signals.length + 8);
    w.bytesField(1, identity, true);
    w.bytesField(2, signals, true);
    return w.take();
}
/** Bytes of one spool record for `event`: "TKS1", length, CRC-32, SpoolRecord{prefix, 3: event}. */
function spoolRecordSize(prefix, event) {
    return 12 + prefix.length + 1 + varintSize(event.length) + event.length;
}
/** Writes one spool record into `out` at `at`; returns the offset after it. */
function putSpoolRecord(out, at, prefix, event) {
    const start = at;
    const length = prefix.length + 1 + varintSize(event.length) + event.length;
    out.write('TKS1', at, 'latin1');
    out.writeUInt32BE(length, at + 4);
    at += 12;
    prefix.copy(out, at);
    at += prefix.length;
    out[at++] = 0x1a; // field 3, length-delimited
    at = putVarint(out, at, event.length);
    event.copy(out, at);
    at += event.length;
    const crc = crc32(out.subarray(start + 12, at), crc32(out.subarray(start + 4, start + 8)));
    out.writeUInt32BE(crc, start + 8);
    return at;
}
/** Reads protobuf fields; throws on malformed input (caught by decodeReply). */
class Reader {
    constructor(buf, endAt = buf.length, start = 0) {
        this.buf = buf;
        this.endAt = endAt;
        this.pos = 0;
        this.pos = start;
    }
    done() {
        return this.pos >= this.endAt;
    }
    varint() {
        let value = 0;
        let scale = 1;
        for (let i = 0; i < 10; i++) {
            if (this.pos >= this.endAt)
                throw new Error('truncated varint');
            const b = this.buf[this.pos++];
            value += (b & 0x7f) * scale;
            scale *= 0x80;
            if ((b & 0x80) === 0)
                return value;
        }
        throw new Error('varint too long');
    }
    sub() {
        const size = this.varint();
        if (size > this.endAt - this.pos)
            throw new Error('truncated field');
        const reader = new Reader(this.buf, this.pos + size, this.pos);
        this.pos += size;
        return reader;
    }
    string() {
        const r = this.sub();
        return this.buf.toString('utf8', r.pos, r.endAt);
    }
    skip(wireType) {
        switch (wireType) {
            case 0:
                this.varint();
                return;
            case 1:
                this.advance(8);
                return;
            case 2:
                this.sub();
                return;
            case 5:
                this.advance(4);
                return;
            default: throw new Error('unsupported wire type');
        }
    }
    advance(n) {
        if (n > this.endAt - this.pos)
            throw new Error('truncated field');
        this.pos += n;
    }
}
function readFields(r, onField) {
    while (!r.done()) {
        const key = r.varint();
        const field = Math.floor(key / 8);
        const wireType = key & 7;
        if (field === 0)
            throw new Error('field 0');
        if (!onField(field, wireType))
            r.skip(wireType);
    }
}
function decodeConsent(r) {
    const consent = { global: 0, tools: new Map() };
    readFields(r, (field, type) => {
        if (field === 1 && type === 0) {
            consent.global = r.varint();
            return true;
        }
        if (field === 2 && type === 2) {
            const t = r.sub();
            let name = '';
            let value = 0;
            readFields(t, (f, ty) => {
                if (f === 1 && ty === 2)
                    name = t.string();
                else if (f === 2 && ty === 0)
                    value = t.varint();
                else
                    return false;
                return true;
            });
            consent.tools.set(name, value);
            return true;
        }
        return false;
    });
    return consent;
}
/** Parses one AgentReply payload (without its length prefix); null if malformed. */
function decodeReply(payload, start = 0, end = payload.length) {
    const reply = { type: 'unknown', requestId: 0, error: '' };
    try {
        const r = new Reader(payload, end, start);
        readFields(r, (field, type) => {
            if (type !== 2 || field < 1 || field > 3)
                return false;
            const body = r.sub();
            if (field === 1) {
                reply.type = 'flush_ack';
                readFields(body, (f, ty) => {
                    if (f === 1 && ty === 0)
                        reply.requestId = body.varint();
                    else
                        return false;
                    return true;
                });
            }
            else if (field === 2) {
                reply.type = 'control';
                readFields(body, (f, ty) => {
                    if (f === 1 && ty === 0)
                        reply.requestId = body.varint();
                    else if (f === 2 && ty === 2)
                        reply.error = body.string();
                    else if (f === 4 && ty === 2)
                        reply.consent = decodeConsent(body.sub());
                    else
                        return false;
                    return true;
                });
            }
            else {
                reply.type = 'error';
                readFields(body, (f, ty) => {
                    if (f === 1 && ty === 2)
                        reply.error = body.string();
                    else
                        return false;
                    return true;
                });
            }
            return true;
        });
    }
    catch {
        return null;
    }
    return reply;
}
// ---- UUIDv7 ----
const RANDOM_POOL_BYTES = 4096;
let randomPool = null;
let randomAt = RANDOM_POOL_BYTES;
let lastMs = 0;
let counter = 0;
/** Fills `pool` from the kernel's CSPRNG: /dev/urandom through `fs` (already loaded by Node), as
 *  loading the `crypto` module costs a short-lived CLI milliseconds of start-up; `crypto` if the
 *  device cannot be read. */
function fillRandom(pool) {
    try {
        const fd = fs.openSync('/dev/urandom', 'r');
        try {
            if (fs.readSync(fd, pool, 0, pool.length, null) === pool.length)
                return;
        }
        finally {
            fs.closeSync(fd);
        }
    }
    catch {
        // not there (a chroot, Windows): below
    }
    require('crypto').randomFillSync(pool);
}
function randomBytes(n) {
    // A pool: one read per ~500 ids instead of one per id.
    if (randomPool === null)
        randomPool = Buffer.allocUnsafe(RANDOM_POOL_BYTES);
    if (randomAt + n > RANDOM_POOL_BYTES) {
        fillRandom(randomPool);
        randomAt = 0;
    }
    const at = randomAt;
    randomAt += n;
    return at;
}
/** A fresh UUIDv7 (RFC 9562) written into `out` at `at`: 48-bit Unix ms, version 7, a 12-bit
 *  counter that keeps ids of one millisecond ordered, variant 10, 62 random bits. */
function putUuidV7(out, at, unixMs) {
    if (unixMs > lastMs) {
        lastMs = unixMs;
        const r = randomBytes(2);
        counter = ((randomPool[r] << 8) | randomPool[r + 1]) & 0x1ff; // start low: room for a burst
    }
    else if (++counter > 0xfff) {
        ++lastMs; // counter exhausted (or the clock went back): borrow the next millisecond
        counter = 0;
    }
    const high = Math.floor(lastMs / 0x1000000);
    const low = lastMs % 0x1000000;
    out[at] = (high >>> 16) & 0xff;
    out[at + 1] = (high >>> 8) & 0xff;
    out[at + 2] = high & 0xff;
    out[at + 3] = (low >>> 16) & 0xff;
    out[at + 4] = (low >>> 8) & 0xff;
    out[at + 5] = low & 0xff;
    out[at + 6] = 0x70 | ((counter >>> 8) & 0x0f);
    out[at + 7] = counter & 0xff;
    const r = randomBytes(8);
    randomPool.copy(out, at + 8, r, r + 8);
    out[at + 8] = 0x80 | (out[at + 8] & 0x3f);
}
/** A UUID's text form, 8-4-4-4-12 lower-case hex. */
function uuidText(id) {
    const hex = Buffer.from(id.buffer, id.byteOffset, 16).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
// ---- helpers ----
function varintSize(value) {
    let n = 1;
    while (value >= 0x80) {
        value = Math.floor(value / 0x80);
        ++n;
    }
    return n;
}
function putVarint(out, at, value) {
    while (value >= 0x80) {
        out[at++] = (value % 0x80) | 0x80;
        value = Math.floor(value / 0x80);
    }
    out[at++] = value;
    return at;
}
