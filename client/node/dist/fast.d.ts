import { type EventBuilder, type EventSink } from './builder';
import type { ClientOptions, Stats } from './client';
import { type Mode } from './environment';
import type { Attributes } from './value';
import { type EventFields } from './wire';
/** The telemetry client of one tool. One per process is typical. Never throws into the tool. */
export declare class Client implements EventSink {
    /** `sending`, `debug` (TELEMETRY_KIT_DEBUG) or `disabled` (DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED,
     *  an invalid tool name), decided once at construction. */
    readonly mode: Mode;
    readonly options: Readonly<ClientOptions>;
    private readonly env;
    private engine;
    private held;
    private readonly open;
    private hooks;
    private timer;
    private counters;
    private closed;
    constructor(options: ClientOptions);
    /** A command (or subcommand) ran. */
    trackCommand(name: string, attributes?: Attributes): EventBuilder;
    /** A feature was used. */
    trackFeature(name: string, attributes?: Attributes): EventBuilder;
    /** Anything else the tool defines. */
    track(name: string, attributes?: Attributes): EventBuilder;
    /** Waits until every event recorded before this call is acknowledged by the agent, at most
     *  `timeoutMs`; what is not acknowledged by then is appended to the spool. Resolves true once every
     *  such event is settled: delivered, spooled, or dropped and counted (an unwritable spool, a bound).
     *  With no agent it spools at once. The one call that keeps the process alive (until it resolves). */
    flush(timeoutMs?: number): Promise<boolean>;
    /** Counters of what happened to this client's events. */
    stats(): Stats;
    /** Runs `hook(exitCode)` synchronously when the process exits, before leftover events are spooled
     *  (for integrations that record the command's outcome at exit). */
    atExit(hook: (code: number) => void): void;
    /** Spools what is unacknowledged, closes the connection and detaches from process exit. */
    close(): void;
    /** Why the last connection attempt refused the socket (an impostor), or ''. */
    get refusedReason(): string;
    private builder;
    /** @internal Called by EventBuilder.record(). */
    _submit(fields: EventFields): void;
    /** Loads the full client and hands it the held events and exit hooks; undefined when disabled. */
    private startEngine;
    private detach;
    /** @internal The process is exiting: open builders are recorded and held events spooled. With an
     *  engine, it does its exit work here, at this listener's place — before the tool's own `exit`
     *  listeners registered after the Client (its own listener, added later, then finds nothing). */
    _exit(code: number): void;
}
