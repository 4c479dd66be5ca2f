"use strict";
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
Object.defineProperty(exports, "__esModule", { value: true });
exports.Client = void 0;
const builder_1 = require("./builder");
const environment_1 = require("./environment");
/** Past this many held events the engine takes over (it connects and bounds memory itself). */
const MAX_HELD = 64;
/** A process still running this long after its first event gets the engine (and a connection). */
const ENGINE_AFTER_MS = 50;
const holding = new Set();
function onExit(code) {
    for (const client of holding)
        client._exit(code);
}
/** The telemetry client of one tool. One per process is typical. Never throws into the tool. */
class Client {
    constructor(options) {
        this.held = [];
        this.open = new builder_1.OpenBuilders(); // recorded at the end of the synchronous run
        this.hooks = [];
        this.counters = { tracked: 0, delivered: 0, spooled: 0, dropped: 0, suppressed: 0, reconnects: 0 };
        this.closed = false;
        this.options = { ...options };
        this.env = options.env ?? process.env;
        let mode = 'disabled';
        try {
            mode = (0, environment_1.decideMode)(this.env, String(options.tool ?? ''));
        }
        catch {
            // an unreadable environment: stay disabled
        }
        this.mode = mode;
        if (mode === 'debug')
            this.startEngine();
        if (mode !== 'sending')
            return;
        if (holding.size === 0)
            process.on('exit', onExit);
        holding.add(this);
    }
    /** A command (or subcommand) ran. */
    trackCommand(name, attributes) {
        return this.engine?.trackCommand(name, attributes) ?? this.builder(1 /* Kind.command */, name, attributes);
    }
    /** A feature was used. */
    trackFeature(name, attributes) {
        return this.engine?.trackFeature(name, attributes) ?? this.builder(2 /* Kind.feature */, name, attributes);
    }
    /** Anything else the tool defines. */
    track(name, attributes) {
        return this.engine?.track(name, attributes) ?? this.builder(3 /* Kind.custom */, name, attributes);
    }
    /** Waits until every event recorded before this call is acknowledged by the agent, at most
     *  `timeoutMs`; what is not acknowledged by then is appended to the spool. Resolves true once every
     *  such event is settled: delivered, spooled, or dropped and counted (an unwritable spool, a bound).
     *  With no agent it spools at once. The one call that keeps the process alive (until it resolves). */
    flush(timeoutMs) {
        this.open.record();
        return this.startEngine()?.flush(timeoutMs) ?? Promise.resolve(true);
    }
    /** Counters of what happened to this client's events. */
    stats() {
        return this.engine?.stats() ?? { ...this.counters };
    }
    /** Runs `hook(exitCode)` synchronously when the process exits, before leftover events are spooled
     *  (for integrations that record the command's outcome at exit). */
    atExit(hook) {
        if (this.engine !== undefined)
            this.engine.atExit(hook);
        else
            this.hooks.push(hook);
    }
    /** Spools what is unacknowledged, closes the connection and detaches from process exit. */
    close() {
        this.open.record();
        this.startEngine()?.close();
        this.closed = true;
        this.detach();
    }
    /** Why the last connection attempt refused the socket (an impostor), or ''. */
    get refusedReason() {
        return this.engine?.refusedReason ?? '';
    }
    // ---- holding ----
    builder(kind, name, attributes) {
        // Without an engine: sending (held) or disabled (debug mode starts the engine at construction).
        return this.open.add(this.mode !== 'sending' || this.closed ? null : this, this.counters, kind, name, attributes);
    }
    /** @internal Called by EventBuilder.record(). */
    _submit(fields) {
        if (this.engine !== undefined)
            return this.engine._submit(fields);
        ++this.counters.tracked;
        this.held.push(fields);
        if (this.held.length >= MAX_HELD)
            this.startEngine();
        else if (this.timer === undefined) {
            this.timer = setTimeout(() => this.startEngine(), ENGINE_AFTER_MS);
            this.timer.unref();
        }
    }
    /** Loads the full client and hands it the held events and exit hooks; undefined when disabled. */
    startEngine() {
        if (this.engine !== undefined || this.mode === 'disabled' || this.closed)
            return this.engine;
        if (this.timer !== undefined)
            clearTimeout(this.timer);
        this.timer = undefined;
        const { Client: Engine } = require('./client');
        const engine = new Engine({ ...this.options, env: this.env });
        this.engine = engine;
        for (const hook of this.hooks)
            engine.atExit(hook);
        this.hooks = [];
        const held = this.held;
        this.held = [];
        this.counters = { tracked: 0, delivered: 0, spooled: 0, dropped: 0, suppressed: 0, reconnects: 0 };
        for (const fields of held)
            engine._submit(fields); // the engine counts them from here
        return engine;
    }
    detach() {
        if (!holding.delete(this) || holding.size > 0)
            return;
        process.off('exit', onExit);
    }
    /** @internal The process is exiting: open builders are recorded and held events spooled. With an
     *  engine, it does its exit work here, at this listener's place — before the tool's own `exit`
     *  listeners registered after the Client (its own listener, added later, then finds nothing). */
    _exit(code) {
        if (this.engine !== undefined) {
            this.open.record();
            return this.engine._exit(code);
        }
        for (const hook of this.hooks) {
            try {
                hook(code);
            }
            catch {
                // an integration's hook must not keep the others from running
            }
        }
        this.hooks = [];
        this.open.record();
        if (this.held.length === 0)
            return;
        const held = this.held;
        this.held = [];
        try {
            // Required here, not at import: a tool that exits without events never evaluates them.
            const { recordsOf } = require('./quick');
            const { pathsFor } = require('./paths');
            const { appendToSpool } = require('./spool');
            const { records, tooLarge } = recordsOf(this.options, this.env, held);
            const result = appendToSpool(pathsFor(this.env).stateDir, records, process.geteuid?.() ?? 0);
            this.counters.spooled += result.spooled;
            this.counters.dropped += result.dropped + tooLarge;
        }
        catch {
            this.counters.dropped += held.length;
        }
    }
}
exports.Client = Client;
