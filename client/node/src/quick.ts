// The small entry's exit path: the spool records of held events, encoded with no Writer class and
// no tables — the same bytes as wire.ts (test/wire.test.js compares them), in code small enough
// that a one-command CLI's `exit` handler compiles little. Plain byte arrays: a handful of events of
// ~100 bytes each. Appending is spool.ts's (docs/protocol.md §6).

import * as fs from 'fs';
import type { ClientOptions } from './client';
import { readSignals, type Env } from './environment';
import { DoubleValue, type AttributeValue } from './value';
import type { EventFields, Signals } from './wire';

type Bytes = number[];

function varint(out: Bytes, v: number | bigint): void {
  if (typeof v === 'number' && v >= 0) {
    for (; v >= 0x80; v = Math.floor(v / 0x80)) out.push((v % 0x80) | 0x80);
    out.push(v);
    return;
  }
  let n = BigInt.asUintN(64, BigInt(v)); // negative int64: two's complement, 10 bytes
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
}

/** A field's tag: a varint, so one byte up to field 15 and two from field 16 (manifest_required). */
function tag(out: Bytes, field: number, wireType: number): void {
  varint(out, (field << 3) | wireType);
}

function bytesField(out: Bytes, field: number, bytes: ArrayLike<number>): void {
  tag(out, field, 2);
  varint(out, bytes.length);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
}

function text(out: Bytes, field: number, value: string, always = false): void {
  if (value.length > 0 || always) bytesField(out, field, Buffer.from(value, 'utf8'));
}

function uint(out: Bytes, field: number, value: number | bigint, always = false): void {
  if (value === 0 && !always) return;
  tag(out, field, 0);
  varint(out, value);
}

function double(out: Bytes, field: number, value: number): void {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(value, 0);
  tag(out, field, 1);
  out.push(...b);
}

/** AttributeValue, or null for a value that is none (left out, as wire.ts does). */
function value(v: AttributeValue): Bytes | null {
  const out: Bytes = [];
  if (typeof v === 'string') text(out, 1, v, true);
  else if (typeof v === 'boolean') uint(out, 4, v ? 1 : 0, true);
  else if (typeof v === 'bigint') {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) return null;
    uint(out, 2, v, true);
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) uint(out, 2, v, true);
    else double(out, 3, v);
  } else if (v instanceof DoubleValue) double(out, 3, v.value);
  else return null;
  return out;
}

/** An `Event` in field order (wire.ts encodeEvent). */
export function eventBytes(tool: string, version: string, e: EventFields): Bytes {
  const out: Bytes = [];
  bytesField(out, 1, e.id);
  text(out, 2, tool);
  text(out, 3, version);
  uint(out, 4, e.kind);
  text(out, 5, e.name);
  uint(out, 6, e.timestampUnixMs);
  const attribute = (k: string, v: AttributeValue): void => {
    const inner = value(v);
    if (inner === null) return;
    const entry: Bytes = [];
    text(entry, 1, k);
    bytesField(entry, 2, inner);
    bytesField(out, 7, entry);
  };
  const a = e.attributes;
  if (a instanceof Map) for (const [k, v] of a) attribute(k, v);
  else if (a !== undefined) for (const k in a) attribute(k, a[k]);
  if (e.success !== undefined) uint(out, 8, e.success ? 1 : 0, true);
  if (e.durationUs !== undefined) uint(out, 9, e.durationUs, true);
  if (e.exitCode !== undefined) uint(out, 10, e.exitCode, true);
  return out;
}

/** SpoolRecord fields 1 (ToolIdentity) and 2 (OptOutSignals), shared by every record. */
export function prefixBytes(o: ClientOptions, s: Signals): Bytes {
  const tool: Bytes = [];
  text(tool, 1, o.tool);
  text(tool, 2, o.version ?? '');
  text(tool, 3, o.endpoint ?? '');
  text(tool, 4, o.ingestKey ?? '');
  uint(tool, 5, o.consentMode === 'opt-out' ? 1 : 0);
  uint(tool, 6, o.allowCi === true ? 1 : 0);
  uint(tool, 7, o.localOnly === true ? 1 : 0);
  uint(tool, 16, o.manifestRequired === true ? 1 : 0);
  const signals: Bytes = [];
  if (s.doNotTrack !== undefined) text(signals, 1, s.doNotTrack);
  if (s.toolDisabled !== undefined) text(signals, 2, s.toolDisabled);
  for (const marker of s.ciMarkers) text(signals, 3, marker, true);
  uint(signals, 4, s.doNotTrack !== undefined ? 1 : 0);
  uint(signals, 5, s.toolDisabled !== undefined ? 1 : 0);
  const out: Bytes = [];
  bytesField(out, 1, tool);
  bytesField(out, 2, signals);
  return out;
}

/** One TKS1 record: magic, length, CRC-32 (bitwise: no table for a few records), payload. */
export function record(prefix: Bytes, event: Bytes): Buffer {
  const payload = prefix.slice();
  bytesField(payload, 3, event);
  // Bytes set one by one: each Buffer method costs its first call a compile (docs/benchmarks.md).
  const out = Buffer.allocUnsafe(12 + payload.length);
  bigEndian(out, 0, 0x544b5331); // "TKS1"
  bigEndian(out, 4, payload.length);
  out.set(payload, 12);
  let crc = -1;
  for (let i = 4; i < out.length; i++) {
    if (i === 8) i = 12; // the CRC covers the length bytes and the payload
    crc ^= out[i];
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  bigEndian(out, 8, ~crc >>> 0);
  return out;
}

function bigEndian(out: Buffer, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** Ids for `events` (UUIDv7: their ms, version 7, a 12-bit counter from a low random start, so one
 *  process's ids of one ms stay ordered; 62 random bits), from /dev/urandom. */
export function giveIds(events: EventFields[]): void {
  const random = Buffer.allocUnsafe(16 * events.length + 2);
  try {
    const fd = fs.openSync('/dev/urandom', 'r');
    try {
      fs.readSync(fd, random, 0, random.length, null);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    (require('crypto') as typeof import('crypto')).randomFillSync(random);
  }
  let counter = ((random[0] << 8) | random[1]) & 0x1ff;
  events.forEach((e, i) => {
    const id = random.subarray(2 + 16 * i, 18 + 16 * i);
    bigEndian(id, 0, Math.floor(e.timestampUnixMs / 0x10000));
    id[4] = (e.timestampUnixMs >>> 8) & 0xff;
    id[5] = e.timestampUnixMs & 0xff;
    id[6] = 0x70 | ((counter >>> 8) & 0x0f);
    id[7] = counter & 0xff;
    id[8] = 0x80 | (id[8] & 0x3f);
    counter = (counter + 1) & 0xfff;
    e.id = id;
  });
}

/** The spool records of `events` (ids given here), and how many were too large for the agent. */
export function recordsOf(o: ClientOptions, env: Env, events: EventFields[]): { records: Buffer[]; tooLarge: number } {
  giveIds(events);
  const prefix = prefixBytes(o, readSignals(env, o.tool));
  const records: Buffer[] = [];
  let tooLarge = 0;
  for (const e of events) {
    const event = eventBytes(o.tool, o.version ?? '', e);
    if (event.length > 64 * 1024) ++tooLarge; // MAX_EVENT_BYTES of handover.ts
    else records.push(record(prefix, event));
  }
  return { records, tooLarge };
}
