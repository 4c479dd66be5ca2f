import { type EventBuilder } from './builder';
import { type Env, type Mode } from './environment';
import { type Attributes, type EventFields } from './wire';
export type ConsentMode = 'opt-in' | 'opt-out';
export interface ClientOptions {
    /** The tool's name, e.g. `my-cli`: 1–64 of `A-Z a-z 0-9 . _ -` (else the client is disabled). */
    tool: string;
    /** The tool's version, e.g. `1.2.0`. */
    version: string;
    /** Collector base URL; empty keeps events on this machine. */
    endpoint?: string;
    /** The tool's ingest key at that collector. */
    ingestKey?: string;
    /** `opt-in` (default: nothing is kept until the person grants) or `opt-out`. */
    consentMode?: ConsentMode;
    /** Keep (tagged) events from CI runs. */
    allowCi?: boolean;
    /** Never forward, even with an endpoint. */
    localOnly?: boolean;
    /** The tool sends only under its manifest published on the collector: the agent holds its events
     *  in memory until the collector has answered for it (ToolIdentity.manifest_required,
     *  docs/privacy.md §1b). Default false. */
    manifestRequired?: boolean;
    /** At the natural end of the process, wait at most this long for the agent's last ack before
     *  spooling what it has not acknowledged (default 50; 0: spool at once). */
    exitWaitMs?: number;
    /** The environment to read (default `process.env`), read once here. */
    env?: Env;
}
/** What happened to the events of one client so far (docs/protocol.md §7). */
export interface Stats {
    tracked: number;
    delivered: number;
    spooled: number;
    dropped: number;
    suppressed: number;
    reconnects: number;
}
export { EventBuilder };
/** The telemetry client of one tool. One per process is typical. Never throws into the tool. */
export declare class Client {
    /** `sending`, `debug` (TELEMETRY_KIT_DEBUG) or `disabled` (DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED,
     *  an invalid tool name), decided once at construction. */
    readonly mode: Mode;
    readonly options: Readonly<ClientOptions>;
    private readonly counters;
    private readonly env;
    private readonly exitWaitMs;
    private paths;
    private hello;
    private spoolPrefix;
    private identity;
    private signals;
    private readonly open;
    private pending;
    private pendingBytes;
    private inflight;
    private drainScheduled;
    private socket;
    private connected;
    private absentUntil;
    private refused;
    private nextSeq;
    private ackedSeq;
    private awaitingAckSince;
    private everConnected;
    private brokenWithoutProgress;
    private replies;
    private waiters;
    private accepted;
    private settled;
    private exitWaitedSeq;
    private exitTimer;
    private writeTimer;
    private progress;
    private exitHooks;
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
    private builder;
    /** @internal Called by EventBuilder.record(). */
    _submit(fields: EventFields): void;
    private prepareSending;
    private resolvedPaths;
    /** Moves queued events on: to the agent if it is there, else to the spool. */
    private drain;
    private queueFull;
    /** Hands a large queue on at once, from inside a synchronous burst: to a connected agent with
     *  room; to the spool at the queue's bound or when the agent is known to be absent; otherwise
     *  (say, still connecting) it waits for the next drain. */
    private relieve;
    private connect;
    private onConnect;
    private writePending;
    private armWriteTimer;
    private clearWriteTimer;
    /** The agent does not read: spool what it holds, stop trying for a while, drop the connection
     *  (which also cancels the pending write that would keep the process alive). */
    private abandonConnection;
    private onData;
    private onAck;
    private onClose;
    private settle;
    private allDurable;
    private resolveWaiters;
    private flushTimedOut;
    private spoolPending;
    private spoolUnacknowledged;
    private spool;
    /** @internal The event loop is empty: wait briefly (ref'd) for the last ack, once per batch. */
    _beforeExit(): void;
    private endExitWait;
    /** @internal The process is exiting: record what is open and spool what is unacknowledged. */
    _exit(code: number): void;
    private printDebug;
    private printTrustProblems;
    /** Why the last connection attempt refused the socket (an impostor), or ''. */
    get refusedReason(): string;
}
