// The wire encoding: byte-exact against the hex example in docs/protocol.md, and the pieces a
// client gets wrong most easily (negative varints, oneof defaults, long sub-messages, UUIDv7, CRC).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const wire = require('../dist/wire');
const { REPO_DIR } = require('./support');

/** The hex bytes of the code block in docs/protocol.md that starts with `first`. */
function docBytes(first) {
  const doc = fs.readFileSync(path.join(REPO_DIR, 'docs', 'protocol.md'), 'utf8');
  const start = doc.indexOf(first);
  assert.ok(start >= 0, `docs/protocol.md has no block starting ${first}`);
  const block = doc.slice(start, doc.indexOf('```', start));
  const bytes = [];
  for (const line of block.split('\n')) {
    for (const token of line.trim().split(/\s+/)) {
      if (!/^[0-9a-f]{2}$/.test(token)) break; // the rest of the line is the comment
      bytes.push(parseInt(token, 16));
    }
  }
  return Buffer.from(bytes);
}

const identity = wire.encodeToolIdentity({ tool: 'my-cli', version: '1.2.0', endpoint: '', ingestKey: '', optOut: false, allowCi: false, localOnly: false });
const signals = wire.encodeSignals({ ciMarkers: [] });
const exampleEvent = () => {
  const w = new wire.Writer(16);
  wire.encodeEvent(w, 'my-cli', '1.2.0', {
    id: Buffer.from('01a236325d0070008000000000000001', 'hex'), kind: 1, name: 'build', timestampUnixMs: 1796205600000,
    attributes: { target: 'release' }, success: true, durationUs: 1500, exitCode: 0,
  });
  return w.take();
};

test('Hello + Event + Flush are exactly the bytes of the example in docs/protocol.md', () => {
  const event = exampleEvent();
  const eventFrame = Buffer.alloc(wire.eventFrameSize(event.length));
  wire.putEventFrame(eventFrame, 0, event);
  const written = Buffer.concat([wire.helloFrame(identity, signals), eventFrame, wire.flushFrame(1, 2000)]);
  assert.strictEqual(written.toString('hex'), docBytes('Hello (27 bytes)').toString('hex'));
});

test('the FlushAck of the example decodes', () => {
  const ack = docBytes('00 00 00 06  0a 04');
  assert.strictEqual(ack.readUInt32BE(0), ack.length - 4);
  const reply = wire.decodeReply(ack, 4);
  assert.deepStrictEqual([reply.type, reply.requestId], ['flush_ack', 1]);
});

test('the spool record of the example: payload and CRC-32 as documented (zlib agrees)', () => {
  const event = exampleEvent();
  const prefix = wire.spoolRecordPrefix(identity, signals);
  const record = Buffer.alloc(wire.spoolRecordSize(prefix, event));
  wire.putSpoolRecord(record, 0, prefix, event);
  assert.strictEqual(record.toString('latin1', 0, 4), 'TKS1');
  assert.strictEqual(record.subarray(4, 12).toString('hex'), '0000006253b3ca0a');
  const documented = docBytes('54 4b 53 31');
  assert.strictEqual(record.subarray(0, 12 + prefix.length + 2).toString('hex'), documented.subarray(0, 12 + prefix.length + 2).toString('hex'));
  if (zlib.crc32) assert.strictEqual(wire.crc32(record.subarray(12), wire.crc32(record.subarray(4, 8))), zlib.crc32(Buffer.concat([record.subarray(4, 8), record.subarray(12)])));
  assert.strictEqual(wire.crc32(Buffer.from('123456789')), 0xcbf43926); // the standard check value
});

test('attribute types: int64 (negative: 10 bytes), double, bool, string, defaults of a oneof are written', () => {
  const w = new wire.Writer(4);
  wire.encodeEvent(w, 't', '', {
    id: Buffer.alloc(16), kind: 2, name: 'n', timestampUnixMs: 1,
    attributes: { neg: -1, zero: 0, f: false, e: '', d: 0.5, big: 2n ** 62n, whole: wire.double(2), skip: null },
  });
  const hex = w.take().toString('hex');
  // neg: entry {key "neg", value {2: varint -1 = ff ff ff ff ff ff ff ff ff 01}}
  assert.ok(hex.includes('0a036e6567' + '120b' + '10ffffffffffffffffff01'), hex);
  assert.ok(hex.includes('0a047a65726f' + '1202' + '1000'), 'zero as int_value 0');
  assert.ok(hex.includes('0a0166' + '1202' + '2000'), 'false as bool_value');
  assert.ok(hex.includes('0a0165' + '1202' + '0a00'), 'empty string_value');
  assert.ok(hex.includes('0a0164' + '1209' + '19000000000000e03f'), 'double 0.5');
  assert.ok(hex.includes('0a0577686f6c65' + '1209' + '190000000000000040'), 'double(2) stays a double');
  assert.ok(!hex.includes('736b6970'), 'a null value is left out');
});

test('round trip through a reader: long strings and nested lengths survive', () => {
  const w = new wire.Writer(4);
  const long = 'é'.repeat(200);
  wire.encodeEvent(w, 'tool', '1', { id: Buffer.alloc(16, 1), kind: 3, name: long, timestampUnixMs: 1796205600000, attributes: { k: long } });
  const bytes = w.take();
  assert.ok(bytes.includes(Buffer.from(long, 'utf8')));
  // name field: tag 2a, varint(400) = 90 03
  assert.ok(bytes.includes(Buffer.concat([Buffer.from([0x2a, 0x90, 0x03]), Buffer.from(long, 'utf8')])));
  // the map entry: 3a <varint> 0a 01 6b 12 <varint 406> 0a <90 03> ...
  const value = Buffer.concat([Buffer.from([0x0a, 0x90, 0x03]), Buffer.from(long, 'utf8')]);
  const entry = Buffer.concat([Buffer.from([0x0a, 0x01, 0x6b, 0x12, 0x93, 0x03]), value]);
  assert.ok(bytes.includes(Buffer.concat([Buffer.from([0x3a, 0x99, 0x03]), entry])), bytes.toString('hex'));
});

test('UUIDv7: version 7, variant 10, time prefix, strictly increasing within a millisecond', () => {
  const ids = [];
  for (let i = 0; i < 5000; i++) {
    const id = Buffer.alloc(16);
    wire.putUuidV7(id, 0, 1796205600000);
    ids.push(id);
  }
  for (const id of ids) {
    assert.strictEqual(id[6] >> 4, 7);
    assert.strictEqual(id[8] & 0xc0, 0x80);
  }
  assert.strictEqual(ids[0].readUIntBE(0, 6), 1796205600000);
  for (let i = 1; i < ids.length; i++) assert.ok(Buffer.compare(ids[i - 1], ids[i]) < 0, `id ${i} not after ${i - 1}`);
  assert.match(wire.uuidText(ids[0]), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('replies: unknown fields are skipped, malformed ones rejected, errors carry their reason', () => {
  const ack = Buffer.from('0a0708071004f80101', 'hex'); // flush_ack{request_id 7, accepted 4, field 31 = 1}
  assert.deepStrictEqual([wire.decodeReply(ack).type, wire.decodeReply(ack).requestId], ['flush_ack', 7]);
  assert.strictEqual(wire.decodeReply(Buffer.from('0a05', 'hex')), null);
  const error = Buffer.concat([Buffer.from('1a050a03', 'hex'), Buffer.from('bad')]);
  assert.deepStrictEqual([wire.decodeReply(error).type, wire.decodeReply(error).error], ['error', 'bad']);
});

test('the package entry (dist/telemetry-kit.js, the joined modules) exports what dist/index.js does', () => {
  const entry = require('..');
  assert.strictEqual(require.resolve('..'), require('path').join(__dirname, '..', 'dist', 'telemetry-kit.js'));
  assert.deepStrictEqual(Object.keys(entry).sort(), Object.keys(require('../dist')).sort());
  const client = new entry.Client({ tool: 'x', version: '1', env: { DO_NOT_TRACK: '1' } });
  client.trackCommand('build').success(true);
  assert.deepStrictEqual([client.mode, client.stats().suppressed], ['disabled', 1]);
});

test("the small entry's exit encoder (quick.js) writes the same records as wire.js", () => {
  const quick = require('../dist/quick');
  const options = { tool: 'my-cli', version: '1.2.0', endpoint: 'https://c.example', ingestKey: 'k', consentMode: 'opt-out', allowCi: true, localOnly: false };
  const env = { DO_NOT_TRACK: '0', CI: '', GITHUB_ACTIONS: 'true', MY_CLI_TELEMETRY_DISABLED: '' };
  const events = [
    { kind: 1, name: 'build', timestampUnixMs: 1764700000123, attributes: { target: 'release', jobs: 8, ratio: 0.25, cached: true, empty: '',
      negative: -42, big: 1099511627776, huge: 2n ** 62n, none: null, pi: wire.double(3), text: 'héllo ✓ 日本'.repeat(20) },
      success: false, durationUs: 1500, exitCode: -3 },
    { kind: 3, name: 'x', timestampUnixMs: 1764700000123, attributes: new Map([['zero', 0], ['f', false]]) },
    { kind: 2, name: '', timestampUnixMs: 1, success: true, durationUs: 0, exitCode: 0 },
  ];
  const { records, tooLarge } = quick.recordsOf(options, env, events);
  assert.strictEqual(tooLarge, 0);
  const identity = wire.encodeToolIdentity({ tool: 'my-cli', version: '1.2.0', endpoint: 'https://c.example', ingestKey: 'k', optOut: true, allowCi: true, localOnly: false });
  const signals = wire.encodeSignals(require('../dist/environment').readSignals(env, 'my-cli'));
  const prefix = wire.spoolRecordPrefix(identity, signals);
  const ids = new Set();
  events.forEach((event, i) => {
    assert.strictEqual(event.id.length, 16);
    assert.strictEqual(event.id[6] >> 4, 7, 'UUID version 7');
    assert.strictEqual(event.id.readUIntBE(0, 6), event.timestampUnixMs);
    ids.add(event.id.toString('hex'));
    const w = new wire.Writer(64);
    wire.encodeEvent(w, 'my-cli', '1.2.0', event);
    const encoded = w.take();
    const expected = Buffer.alloc(wire.spoolRecordSize(prefix, encoded));
    wire.putSpoolRecord(expected, 0, prefix, encoded);
    assert.deepStrictEqual(records[i], expected, `record ${i}`);
  });
  assert.strictEqual(ids.size, 3);
});

test('manifestRequired is ToolIdentity field 16 (a two-byte tag), the same bytes in both encoders', () => {
  const quick = require('../dist/quick');
  const { identityBytes } = require('../dist/handover');
  const signals = { ciMarkers: [] };
  // The same expected bytes as Go's TestManifestRequiredIsField16 and Python's test.
  assert.strictEqual(wire.encodeToolIdentity({ tool: 't', version: '', endpoint: '', ingestKey: '', optOut: false, allowCi: false, localOnly: false, manifestRequired: true })
    .toString('hex'), '0a0174800101');
  for (const [manifestRequired, identityHex] of [[true, '0a0174800101'], [false, '0a0174'], [undefined, '0a0174']]) {
    const options = { tool: 't', version: '', manifestRequired };
    // The engine's Hello and spool records carry identityBytes(); the entry's exit path prefixBytes().
    const engine = identityBytes(options, {});
    assert.strictEqual(engine.identity.toString('hex'), identityHex, `engine, manifestRequired ${manifestRequired}`);
    const expectedPrefix = wire.spoolRecordPrefix(engine.identity, wire.encodeSignals(signals));
    assert.strictEqual(Buffer.from(quick.prefixBytes(options, signals)).toString('hex'), expectedPrefix.toString('hex'),
      `entry, manifestRequired ${manifestRequired}`);
  }
});
