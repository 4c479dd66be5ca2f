// What both the full client and the small entry need to hand events to the spool without a
// connection: the tool's identity bytes, the paths, and "encode these events and append them".
// Loaded by the small entry (fast.ts) only in its `exit` handler, so a one-event CLI never loads
// the socket code (client.ts).

import type * as osModule from 'os';
import type { ClientOptions } from './client';
import { readSignals, type Env } from './environment';
import { resolvePaths, type Paths } from './paths';
import type * as spoolModule from './spool';
import {
  Writer, encodeEvent, encodeSignals, encodeToolIdentity, putSpoolRecord, putUuidV7, spoolRecordPrefix,
  spoolRecordSize, type EventFields,
} from './wire';

/** Largest encoded event the agent takes; a larger one is dropped and counted. */
export const MAX_EVENT_BYTES = 64 * 1024;

/** The Hello's / spool record's ToolIdentity and OptOutSignals bytes for these options. */
export function identityBytes(options: ClientOptions, env: Env): { identity: Buffer; signals: Buffer } {
  const identity = encodeToolIdentity({
    tool: options.tool, version: options.version ?? '', endpoint: options.endpoint ?? '',
    ingestKey: options.ingestKey ?? '', optOut: options.consentMode === 'opt-out',
    allowCi: options.allowCi === true, localOnly: options.localOnly === true,
  });
  return { identity, signals: encodeSignals(readSignals(env, options.tool)) };
}

/** The socket and state dir for this environment and the effective user. */
export function pathsFor(env: Env): Paths {
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME
    : (require('os') as typeof osModule).homedir(); // `os` loaded only without $HOME: ~0.8 ms of start-up
  return resolvePaths(env, process.getuid?.() ?? 0, home);
}

/** Gives each event its id, encodes it and appends all of them to the spool in one go (the small
 *  entry's exit path, docs/protocol.md §6). Never throws. */
export function spoolFields(options: ClientOptions, env: Env, events: EventFields[]): spoolModule.SpoolResult {
  let tooLarge = 0;
  try {
    const { identity, signals } = identityBytes(options, env);
    const prefix = spoolRecordPrefix(identity, signals);
    const w = new Writer(1024);
    const records: Buffer[] = [];
    for (const fields of events) {
      fields.id = Buffer.allocUnsafe(16);
      putUuidV7(fields.id, 0, fields.timestampUnixMs);
      w.reset();
      encodeEvent(w, options.tool, options.version ?? '', fields);
      if (w.pos > MAX_EVENT_BYTES) {
        ++tooLarge;
        continue;
      }
      const event = w.buf.subarray(0, w.pos);
      const record = Buffer.allocUnsafe(spoolRecordSize(prefix, event));
      putSpoolRecord(record, 0, prefix, event);
      records.push(record);
    }
    const { appendToSpool } = require('./spool') as typeof spoolModule;
    const result = appendToSpool(pathsFor(env).stateDir, records, process.geteuid?.() ?? 0);
    return { ...result, dropped: result.dropped + tooLarge };
  } catch (error) {
    return { spooled: 0, dropped: events.length, problem: `cannot spool: ${(error as Error).message}` };
  }
}
