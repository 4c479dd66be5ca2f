// The package's entry Client: the small hot path of a short CLI, in front of the full client.
//
// States: `held` (sending mode, no engine: recorded events stay in memory) → `engine` (the full
// client of client.ts, with its socket, acks and bounds, took the held events over) or → `spooled`
// (the process exited while holding: the events were appended to the spool synchronously in the
// `exit` handler, docs/protocol.md §6). The engine is loaded only when the process lives long
// enough for a connection to matter: flush(), close(), MAX_HELD events, or ENGINE_AFTER_MS after
// the first event (an unref'ed timer). A one-command CLI thus loads and runs only this file, the
// builder and the environment checks until exit — V8 compiling the socket code was most of what
// the client added to such a process (docs/benchmarks.md, "Node client"). Debug mode goes to the
// engine at once; disabled mode never loads it.

import { OpenBuilders, type EventBuilder, type EventSink } from './builder';
import type * as clientModule from './client';
import type { ClientOptions, Stats } from './client';
import { decideMode, type Env, type Mode } from './environment';
import type * as pathsModule from './paths';
import type * as quickModule from './quick';
import type * as spoolModule from './spool';
import type { Attributes } from './value';
import { Kind, type EventFields } from './wire';

/** Past this many held events the engine takes over (it connects and bounds memory itself). */
const MAX_HELD = 64;
/** A process still running this long after its first event gets the engine (and a connection). */
const ENGINE_AFTER_MS = 50;

const holding = new Set<Client>();

function onExit(code: number): void {
  for (const client of holding) client._exit(code);
}

/** The telemetry client of one tool. One per process is typical. Never throws into the tool. */
export class Client implements EventSink {
  /** `sending`, `debug` (TELEMETRY_KIT_DEBUG) or `disabled` (DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED,
   *  an invalid tool name), decided once at construction. */
  readonly mode: Mode;
  readonly options: Readonly<ClientOptions>;

  private readonly env: Env;
  private engine: clientModule.Client | undefined;
  private held: EventFields[] = [];
  private readonly open = new OpenBuilders(); // recorded at the end of the synchronous run
  private hooks: Array<(code: number) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private counters: Stats = { tracked: 0, delivered: 0, spooled: 0, dropped: 0, suppressed: 0, reconnects: 0 };
  private closed = false;

  constructor(options: ClientOptions) {
    this.options = { ...options };
    this.env = options.env ?? process.env;
    let mode: Mode = 'disabled';
    try {
      mode = decideMode(this.env, String(options.tool ?? ''));
    } catch {
      // an unreadable environment: stay disabled
    }
    this.mode = mode;
    if (mode === 'debug') this.startEngine();
    if (mode !== 'sending') return;
    if (holding.size === 0) process.on('exit', onExit);
    holding.add(this);
  }

  /** A command (or subcommand) ran. */
  trackCommand(name: string, attributes?: Attributes): EventBuilder {
    return this.engine?.trackCommand(name, attributes) ?? this.builder(Kind.command, name, attributes);
  }

  /** A feature was used. */
  trackFeature(name: string, attributes?: Attributes): EventBuilder {
    return this.engine?.trackFeature(name, attributes) ?? this.builder(Kind.feature, name, attributes);
  }

  /** Anything else the tool defines. */
  track(name: string, attributes?: Attributes): EventBuilder {
    return this.engine?.track(name, attributes) ?? this.builder(Kind.custom, name, attributes);
  }

  /** Waits until every event recorded before this call is acknowledged by the agent, at most
   *  `timeoutMs`; what is not acknowledged by then is appended to the spool. Resolves true once every
   *  such event is settled: delivered, spooled, or dropped and counted (an unwritable spool, a bound).
   *  With no agent it spools at once. The one call that keeps the process alive (until it resolves). */
  flush(timeoutMs?: number): Promise<boolean> {
    this.open.record();
    return this.startEngine()?.flush(timeoutMs) ?? Promise.resolve(true);
  }

  /** Counters of what happened to this client's events. */
  stats(): Stats {
    return this.engine?.stats() ?? { ...this.counters };
  }

  /** Runs `hook(exitCode)` synchronously when the process exits, before leftover events are spooled
   *  (for integrations that record the command's outcome at exit). */
  atExit(hook: (code: number) => void): void {
    if (this.engine !== undefined) this.engine.atExit(hook);
    else this.hooks.push(hook);
  }

  /** Spools what is unacknowledged, closes the connection and detaches from process exit. */
  close(): void {
    this.open.record();
    this.startEngine()?.close();
    this.closed = true;
    this.detach();
  }

  /** Why the last connection attempt refused the socket (an impostor), or ''. */
  get refusedReason(): string {
    return this.engine?.refusedReason ?? '';
  }

  // ---- holding ----

  private builder(kind: Kind, name: string, attributes: Attributes | undefined): EventBuilder {
    // Without an engine: sending (held) or disabled (debug mode starts the engine at construction).
    return this.open.add(this.mode !== 'sending' || this.closed ? null : this, this.counters, kind, name, attributes);
  }

  /** @internal Called by EventBuilder.record(). */
  _submit(fields: EventFields): void {
    if (this.engine !== undefined) return this.engine._submit(fields);
    ++this.counters.tracked;
    this.held.push(fields);
    if (this.held.length >= MAX_HELD) this.startEngine();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.startEngine(), ENGINE_AFTER_MS);
      this.timer.unref();
    }
  }

  /** Loads the full client and hands it the held events and exit hooks; undefined when disabled. */
  private startEngine(): clientModule.Client | undefined {
    if (this.engine !== undefined || this.mode === 'disabled' || this.closed) return this.engine;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { Client: Engine } = require('./client') as typeof clientModule;
    const engine = new Engine({ ...this.options, env: this.env });
    this.engine = engine;
    for (const hook of this.hooks) engine.atExit(hook);
    this.hooks = [];
    const held = this.held;
    this.held = [];
    this.counters = { tracked: 0, delivered: 0, spooled: 0, dropped: 0, suppressed: 0, reconnects: 0 };
    for (const fields of held) engine._submit(fields); // the engine counts them from here
    return engine;
  }

  private detach(): void {
    if (!holding.delete(this) || holding.size > 0) return;
    process.off('exit', onExit);
  }

  /** @internal The process is exiting: open builders are recorded and held events spooled. With an
   *  engine, it does its exit work here, at this listener's place — before the tool's own `exit`
   *  listeners registered after the Client (its own listener, added later, then finds nothing). */
  _exit(code: number): void {
    if (this.engine !== undefined) {
      this.open.record();
      return this.engine._exit(code);
    }
    for (const hook of this.hooks) {
      try {
        hook(code);
      } catch {
        // an integration's hook must not keep the others from running
      }
    }
    this.hooks = [];
    this.open.record();
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    try {
      // Required here, not at import: a tool that exits without events never evaluates them.
      const { recordsOf } = require('./quick') as typeof quickModule;
      const { pathsFor } = require('./paths') as typeof pathsModule;
      const { appendToSpool } = require('./spool') as typeof spoolModule;
      const { records, tooLarge } = recordsOf(this.options, this.env, held);
      const result = appendToSpool(pathsFor(this.env).stateDir, records, process.geteuid?.() ?? 0);
      this.counters.spooled += result.spooled;
      this.counters.dropped += result.dropped + tooLarge;
    } catch {
      this.counters.dropped += held.length;
    }
  }
}
