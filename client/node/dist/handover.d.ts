import type { ClientOptions } from './client';
import { type Env } from './environment';
/** Largest encoded event the agent takes; a larger one is dropped and counted. */
export declare const MAX_EVENT_BYTES: number;
/** The Hello's / spool record's ToolIdentity and OptOutSignals bytes for these options. */
export declare function identityBytes(options: ClientOptions, env: Env): {
    identity: Buffer;
    signals: Buffer;
};
