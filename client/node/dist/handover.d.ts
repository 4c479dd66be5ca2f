import type { ClientOptions } from './client';
import { type Env } from './environment';
import { type Paths } from './paths';
import type * as spoolModule from './spool';
import { type EventFields } from './wire';
/** Largest encoded event the agent takes; a larger one is dropped and counted. */
export declare const MAX_EVENT_BYTES: number;
/** The Hello's / spool record's ToolIdentity and OptOutSignals bytes for these options. */
export declare function identityBytes(options: ClientOptions, env: Env): {
    identity: Buffer;
    signals: Buffer;
};
/** The socket and state dir for this environment and the effective user. */
export declare function pathsFor(env: Env): Paths;
/** Gives each event its id, encodes it and appends all of them to the spool in one go (the small
 *  entry's exit path, docs/protocol.md §6). Never throws. */
export declare function spoolFields(options: ClientOptions, env: Env, events: EventFields[]): spoolModule.SpoolResult;
