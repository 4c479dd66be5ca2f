// The full client's identity bytes (its Hello and spool records), from the options and environment.

import type { ClientOptions } from './client';
import { readSignals, type Env } from './environment';
import { encodeSignals, encodeToolIdentity } from './wire';

/** Largest encoded event the agent takes; a larger one is dropped and counted. */
export const MAX_EVENT_BYTES = 64 * 1024;

/** The Hello's / spool record's ToolIdentity and OptOutSignals bytes for these options. */
export function identityBytes(options: ClientOptions, env: Env): { identity: Buffer; signals: Buffer } {
  const identity = encodeToolIdentity({
    tool: options.tool, version: options.version ?? '', endpoint: options.endpoint ?? '',
    ingestKey: options.ingestKey ?? '', optOut: options.consentMode === 'opt-out',
    allowCi: options.allowCi === true, localOnly: options.localOnly === true,
    manifestRequired: options.manifestRequired === true,
  });
  return { identity, signals: encodeSignals(readSignals(env, options.tool)) };
}
