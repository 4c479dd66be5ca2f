import type { ClientOptions } from './client';
import { type Env } from './environment';
import type { EventFields, Signals } from './wire';
type Bytes = number[];
/** An `Event` in field order (wire.ts encodeEvent). */
export declare function eventBytes(tool: string, version: string, e: EventFields): Bytes;
/** SpoolRecord fields 1 (ToolIdentity) and 2 (OptOutSignals), shared by every record. */
export declare function prefixBytes(o: ClientOptions, s: Signals): Bytes;
/** One TKS1 record: magic, length, CRC-32 (bitwise: no table for a few records), payload. */
export declare function record(prefix: Bytes, event: Bytes): Buffer;
/** Ids for `events` (UUIDv7: their ms, version 7, a 12-bit counter from a low random start, so one
 *  process's ids of one ms stay ordered; 62 random bits), from /dev/urandom. */
export declare function giveIds(events: EventFields[]): void;
/** The spool records of `events` (ids given here), and how many were too large for the agent. */
export declare function recordsOf(o: ClientOptions, env: Env, events: EventFields[]): {
    records: Buffer[];
    tooLarge: number;
};
export {};
