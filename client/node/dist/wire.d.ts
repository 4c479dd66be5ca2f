import { type Attributes } from './value';
/** EventKind of event.proto. */
export declare const enum Kind {
    command = 1,
    feature = 2,
    custom = 3
}
export { DoubleValue, double } from './value';
export type { AttributeValue, Attributes } from './value';
/** One event as the client builds it (Event without the agent-only fields 11–16). */
export interface EventFields {
    id: Buffer;
    kind: Kind;
    name: string;
    timestampUnixMs: number;
    attributes?: Attributes;
    success?: boolean;
    durationUs?: number;
    exitCode?: number;
}
/** Who the tool is (ToolIdentity). */
export interface ToolIdentity {
    tool: string;
    version: string;
    endpoint: string;
    ingestKey: string;
    optOut: boolean;
    allowCi: boolean;
    localOnly: boolean;
    manifestRequired: boolean;
}
/** The raw opt-out signals of this process (OptOutSignals). */
export interface Signals {
    doNotTrack?: string;
    toolDisabled?: string;
    ciMarkers: string[];
}
/** Appends protobuf fields to a buffer that grows as needed. Nested messages reserve one length
 *  byte and move their body if it turns out longer (rare: only messages of 128 bytes or more). */
export declare class Writer {
    buf: Buffer;
    pos: number;
    constructor(capacity?: number);
    reset(): void;
    ensure(extra: number): void;
    byte(b: number): void;
    /** A varint of a non-negative safe integer. */
    varint(value: number): void;
    /** A varint of a signed 64-bit value (two's complement: a negative number takes 10 bytes). */
    int64(value: number | bigint): void;
    tag(field: number, wireType: number): void;
    uintField(field: number, value: number, always?: boolean): void;
    stringField(field: number, text: string, always?: boolean): void;
    bytesField(field: number, bytes: Uint8Array, always?: boolean): void;
    doubleField(field: number, value: number): void;
    /** Starts a length-delimited sub-message; returns the token for end(). */
    begin(field: number): number;
    /** Ends the sub-message begun at `at`, writing its length (moving the body if it needs more bytes). */
    end(at: number): void;
    /** A copy of what was written. */
    take(): Buffer;
}
/** Serializes an `Event` (fields in number order, canonical: docs/protocol.md §4). */
export declare function encodeEvent(w: Writer, tool: string, toolVersion: string, event: EventFields): void;
export declare function encodeToolIdentity(identity: ToolIdentity): Buffer;
export declare function encodeSignals(signals: Signals): Buffer;
/** Framed `ClientFrame{hello}`. */
export declare function helloFrame(identity: Buffer, signals: Buffer): Buffer;
/** Bytes of the frame `appendEventFrame` writes for an event of `size` bytes. */
export declare function eventFrameSize(size: number): number;
/** Writes a framed `ClientFrame{event}` holding the serialized `event` into `out` at `at`;
 *  returns the offset after it. */
export declare function putEventFrame(out: Buffer, at: number, event: Buffer): number;
/** Framed `ClientFrame{flush{request_id, deadline_ms}}`. */
export declare function flushFrame(requestId: number, deadlineMs: number): Buffer;
/** ConsentRequest.Action of agent.proto. */
export declare const enum ConsentAction {
    status = 0,
    grant = 1,
    deny = 2
}
/** Framed `ClientFrame{control{request_id, consent{action, tool}}}` (caller unset: a tool). */
export declare function consentRequestFrame(requestId: number, action: ConsentAction, tool: string): Buffer;
/** CRC-32 (IEEE 802.3, zlib's) of `bytes`, continuing from `crc`. */
export declare function crc32(bytes: Uint8Array, crc?: number): number;
/** The SpoolRecord fields every record of this client shares: tool (1) and signals (2). */
export declare function spoolRecordPrefix(identity: Buffer, signals: Buffer): Buffer;
/** Bytes of one spool record for `event`: "TKS1", length, CRC-32, SpoolRecord{prefix, 3: event}. */
export declare function spoolRecordSize(prefix: Buffer, event: Buffer): number;
/** Writes one spool record into `out` at `at`; returns the offset after it. */
export declare function putSpoolRecord(out: Buffer, at: number, prefix: Buffer, event: Buffer): number;
/** What the agent said (AgentReply), reduced to what the client uses. */
export interface Reply {
    type: 'flush_ack' | 'control' | 'error' | 'unknown';
    requestId: number;
    error: string;
    /** ControlResponse.consent, if present: global consent and this tool's. */
    consent?: {
        global: number;
        tools: Map<string, number>;
    };
}
/** Parses one AgentReply payload (without its length prefix); null if malformed. */
export declare function decodeReply(payload: Buffer, start?: number, end?: number): Reply | null;
/** A fresh UUIDv7 (RFC 9562) written into `out` at `at`: 48-bit Unix ms, version 7, a 12-bit
 *  counter that keeps ids of one millisecond ordered, variant 10, 62 random bits. */
export declare function putUuidV7(out: Buffer, at: number, unixMs: number): void;
/** A UUID's text form, 8-4-4-4-12 lower-case hex. */
export declare function uuidText(id: Uint8Array): string;
export declare function varintSize(value: number): number;
