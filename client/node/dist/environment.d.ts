import type { Signals } from './wire';
export type Env = Record<string, string | undefined>;
/** What the client does with events. */
export type Mode = 'sending' | 'debug' | 'disabled';
/** The CI variables whose presence marks a CI run (common/include/tk/common/ci.hpp, same order). */
export declare const CI_VARIABLES: readonly string[];
/** `my-cli` → `MY_CLI_TELEMETRY_DISABLED`: upper-cased, every byte but ASCII letters and digits → `_`. */
export declare function toolDisabledVariable(tool: string): string;
/** A switch is on when set to anything but empty, `0` or `false` (any case). */
export declare function truthy(value: string | undefined): boolean;
/** The raw opt-out signals the agent receives (it decides again). */
export declare function readSignals(env: Env, tool: string): Signals;
export declare function inCi(env: Env): boolean;
/** Tool names the agent accepts: 1–64 bytes of `A-Z a-z 0-9 . _ -`. */
export declare function validToolName(tool: string): boolean;
/** The mode: debug wins (a person debugging sees what would be sent), then the opt-outs. */
export declare function decideMode(env: Env, tool: string, platform?: string): Mode;
