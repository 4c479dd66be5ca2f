"use strict";
// The Node.js client: the API of the C++ client (docs/client.md), over the protocol of
// docs/protocol.md "Writing a client".
//
// Life of an event: `trackCommand()` returns a builder; it is recorded at the end of the current
// synchronous run (a microtask) or at `record()`: serialized into a Buffer and queued. One
// nextTick later everything queued goes out in a single socket write (Hello first on a new
// connection), followed by a Flush; the agent's FlushAck settles them. The socket and every timer
// are unref'ed: the client never keeps the process alive, except while the tool awaits `flush()`
// and, at the natural end of the process (`beforeExit`), for at most `exitWaitMs` for the last
// ack. Whatever is not acknowledged when the process exits is appended to the spool synchronously
// in the `exit` handler. With no agent (or a refused one), events go straight to the spool.
Object.defineProperty(exports, "__esModule", { value: true });
exports.Client = void 0;
const builder_1 = require("./builder");
const environment_1 = require("./environment");
const handover_1 = require("./handover");
const paths_1 = require("./paths");
const trust_1 = require("./trust");
const wire_1 = require("./wire");
// Bounds (docs/client.md): memory, and how long the agent may lag before the spool takes over.
const MAX_INFLIGHT_EVENTS = 4096; // written, not yet acknowledged
const MAX_PENDING_EVENTS = 8192; // recorded, not yet written: past this, to the spool
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024; // a synchronous burst is written out at this size...
const SPOOL_HIGH_WATER = 2048; // ...or this many events
const MAX_SOCKET_BUFFER = 1024 * 1024;
const STALL_AFTER_MS = 500;
// Written bytes pending, and the agent has neither read nor acknowledged anything for this long: it
// is stalled. A write libuv cannot finish keeps the process alive (unref does not cover pending
// writes), so the connection is then abandoned and what it held is spooled.
const WRITE_STALL_MS = STALL_AFTER_MS;
const ABSENT_RETRY_MS = 1000;
const FLUSH_DEADLINE_MS = 2000;
const MAX_REPLY_BYTES = 1024 * 1024;
const SLAB_BYTES = 64 * 1024;
// ---- event buffers: carved out of shared slabs (one allocation per ~500 events) ----
const scratch = new wire_1.Writer(1024);
let slab = Buffer.allocUnsafe(SLAB_BYTES);
let slabUsed = 0;
function copyOut(from) {
    const size = from.pos;
    if (size > SLAB_BYTES / 4)
        return from.take();
    if (slabUsed + size > SLAB_BYTES) {
        slab = Buffer.allocUnsafe(SLAB_BYTES);
        slabUsed = 0;
    }
    from.buf.copy(slab, slabUsed, 0, size);
    const out = slab.subarray(slabUsed, slabUsed + size);
    slabUsed += size;
    return out;
}
// ---- process exit: one pair of listeners for every client ----
const live = new Set();
let listening = false;
function onBeforeExit() {
    for (const client of live)
        client._beforeExit();
}
function onExit(code) {
    for (const client of live)
        client._exit(code);
}
function register(client) {
    live.add(client);
    if (listening)
        return;
    listening = true;
    process.on('beforeExit', onBeforeExit);
    process.on('exit', onExit);
}
function unregister(client) {
    live.delete(client);
    if (live.size > 0 || !listening)
        return;
    listening = false;
    process.off('beforeExit', onBeforeExit);
    process.off('exit', onExit);
}
/** The telemetry client of one tool. One per process is typical. Never throws into the tool. */
class Client {
    constructor(options) {
        this.counters = { tracked: 0, delivered: 0, spooled: 0, dropped: 0, suppressed: 0, reconnects: 0 };
        // Builders not yet recorded, recorded together at the end of the synchronous run.
        this.open = new builder_1.OpenBuilders();
        // Events recorded, not yet written to a connection; written, not yet acknowledged.
        this.pending = [];
        this.pendingBytes = 0;
        this.inflight = [];
        this.drainScheduled = false;
        this.connected = false;
        this.absentUntil = 0;
        this.refused = '';
        this.nextSeq = 1;
        this.ackedSeq = 0;
        this.awaitingAckSince = 0;
        this.everConnected = false;
        this.brokenWithoutProgress = 0;
        this.replies = Buffer.alloc(0);
        this.waiters = [];
        this.accepted = 0; // events queued for delivery
        this.settled = 0; // of those: delivered, spooled or dropped
        this.exitWaitedSeq = 0;
        this.progress = 0; // acks and drained writes so far: a busy agent is not a stalled one
        this.exitHooks = [];
        this.closed = false;
        this.options = { ...options };
        this.env = options.env ?? process.env;
        this.exitWaitMs = Math.max(0, options.exitWaitMs ?? 50);
        let mode = 'disabled';
        try {
            mode = (0, environment_1.decideMode)(this.env, String(options.tool ?? ''));
            if (mode === 'sending')
                this.prepareSending();
            if (mode === 'debug')
                this.printTrustProblems();
            if (mode !== 'disabled')
                register(this);
        }
        catch {
            mode = 'disabled';
        }
        this.mode = mode;
    }
    /** A command (or subcommand) ran. */
    trackCommand(name, attributes) {
        return this.builder(1 /* Kind.command */, name, attributes);
    }
    /** A feature was used. */
    trackFeature(name, attributes) {
        return this.builder(2 /* Kind.feature */, name, attributes);
    }
    /** Anything else the tool defines. */
    track(name, attributes) {
        return this.builder(3 /* Kind.custom */, name, attributes);
    }
    /** Waits until every event recorded before this call is acknowledged by the agent, at most
     *  `timeoutMs`; what is not acknowledged by then is appended to the spool. Resolves true once every
     *  such event is settled: delivered, spooled, or dropped and counted (an unwritable spool, a bound).
     *  With no agent it spools at once. The one call that keeps the process alive (until it resolves). */
    flush(timeoutMs = FLUSH_DEADLINE_MS) {
        try {
            this.open.record();
            if (this.mode !== 'sending' || this.closed)
                return Promise.resolve(true);
            const target = this.accepted;
            this.drain();
            if (this.settled >= target)
                return Promise.resolve(this.allDurable());
            return new Promise((resolve) => {
                const timer = setTimeout(() => this.flushTimedOut(), Math.max(0, timeoutMs));
                this.waiters.push({ target, resolve, timer });
                this.socket?.ref(); // the tool asked to wait: keep the process alive until settled
            });
        }
        catch {
            return Promise.resolve(false);
        }
    }
    /** Counters of what happened to this client's events. */
    stats() {
        return { ...this.counters };
    }
    /** Runs `hook(exitCode)` synchronously when the process exits, before leftover events are spooled
     *  (for integrations that record the command's outcome at exit). */
    atExit(hook) {
        this.exitHooks.push(hook);
    }
    /** Spools what is unacknowledged, closes the connection and detaches from process exit. */
    close() {
        if (this.closed)
            return;
        this.open.record();
        this.spoolUnacknowledged();
        this.closed = true;
        this.socket?.destroy();
        this.socket = undefined;
        this.resolveWaiters();
        unregister(this);
    }
    // ---- recording ----
    builder(kind, name, attributes) {
        // Debug mode records too: its events are printed (_submit).
        return this.open.add(this.mode === 'disabled' || this.closed ? null : this, this.counters, kind, name, attributes);
    }
    /** @internal Called by EventBuilder.record(). */
    _submit(fields) {
        ++this.counters.tracked;
        try {
            const id = Buffer.allocUnsafe(16);
            (0, wire_1.putUuidV7)(id, 0, fields.timestampUnixMs);
            fields.id = id;
            if (this.mode === 'debug') {
                ++this.counters.suppressed;
                this.printDebug(fields);
                return;
            }
            if (this.mode !== 'sending' || this.closed) {
                ++this.counters.suppressed;
                return;
            }
            scratch.reset();
            (0, wire_1.encodeEvent)(scratch, this.options.tool, this.options.version ?? '', fields);
            if (scratch.pos > handover_1.MAX_EVENT_BYTES) {
                ++this.counters.dropped;
                return;
            }
            const event = copyOut(scratch);
            this.pending.push(event);
            this.pendingBytes += event.length;
            ++this.accepted;
            // A burst in one synchronous run: nothing drains it until the tool yields, so hand it on
            // from here once it is large — to the socket if it takes it, else to the spool.
            if (this.pending.length >= SPOOL_HIGH_WATER || this.pendingBytes >= WRITE_BATCH_BYTES)
                this.relieve();
            if (!this.drainScheduled) {
                this.drainScheduled = true;
                process.nextTick(() => this.drain());
            }
        }
        catch {
            ++this.counters.dropped;
        }
    }
    // ---- delivery ----
    prepareSending() {
        const { identity, signals } = (0, handover_1.identityBytes)(this.options, this.env);
        this.hello = (0, wire_1.helloFrame)(identity, signals);
        this.identity = identity;
        this.signals = signals;
    }
    resolvedPaths() {
        return (this.paths ??= (0, paths_1.pathsFor)(this.env));
    }
    /** Moves queued events on: to the agent if it is there, else to the spool. */
    drain() {
        this.drainScheduled = false;
        if (this.closed || this.pending.length === 0)
            return;
        try {
            if (this.socket === undefined && Date.now() >= this.absentUntil)
                this.connect();
            if (this.socket === undefined) {
                this.spoolPending();
                return;
            }
            // A lagging agent is waited for (bounded); one that has acknowledged nothing for
            // STALL_AFTER_MS while the queue is past its high-water mark, or a queue at its bound, gets
            // the spool instead (docs/protocol.md §5).
            const stalled = this.awaitingAckSince > 0 && Date.now() - this.awaitingAckSince > STALL_AFTER_MS;
            if ((stalled && this.pending.length > SPOOL_HIGH_WATER) || this.queueFull()) {
                this.spoolPending();
                return;
            }
            if (this.socket.writableLength > MAX_SOCKET_BUFFER || this.inflight.length >= MAX_INFLIGHT_EVENTS) {
                this.armWriteTimer(); // until an ack or 'drain' makes room; or the stall is found
                return;
            }
            this.writePending();
        }
        catch {
            this.spoolPending();
        }
    }
    queueFull() {
        return this.pending.length >= MAX_PENDING_EVENTS || this.pendingBytes >= MAX_PENDING_BYTES;
    }
    /** Hands a large queue on at once, from inside a synchronous burst: to a connected agent with
     *  room; to the spool at the queue's bound or when the agent is known to be absent; otherwise
     *  (say, still connecting) it waits for the next drain. */
    relieve() {
        const socket = this.socket;
        if (socket !== undefined && this.connected && socket.writableLength <= MAX_SOCKET_BUFFER &&
            this.inflight.length < MAX_INFLIGHT_EVENTS) {
            this.writePending();
        }
        else if (this.queueFull() || (socket === undefined && Date.now() < this.absentUntil)) {
            this.spoolPending(); // at the bound, or the agent is known to be absent
        }
    }
    connect() {
        const paths = this.resolvedPaths();
        const check = (0, trust_1.checkSocket)(paths.socket, process.geteuid?.() ?? 0);
        if (!check.ok) {
            this.refused = check.refused;
            this.absentUntil = Date.now() + ABSENT_RETRY_MS;
            return;
        }
        this.refused = '';
        // `net` is loaded on the first connection, not at import: a disabled or debugging tool, or one
        // with no agent, never pays for it.
        const { createConnection } = require('net');
        const socket = createConnection({ path: paths.socket });
        socket.unref();
        this.socket = socket;
        this.connected = false;
        this.replies = Buffer.alloc(0);
        this.ackedSeq = this.nextSeq - 1;
        this.awaitingAckSince = 0;
        socket.on('connect', () => this.onConnect(socket));
        socket.on('data', (chunk) => this.onData(socket, chunk));
        socket.on('drain', () => {
            ++this.progress;
            this.clearWriteTimer();
            this.drain();
        });
        socket.on('error', () => {
            // 'close' follows and does the work.
        });
        socket.on('close', () => this.onClose(socket));
        if (this.waiters.length > 0 || this.exitTimer !== undefined)
            socket.ref();
        socket.write(this.hello); // queued by Node until connected
        this.armWriteTimer();
    }
    onConnect(socket) {
        if (socket !== this.socket)
            return;
        this.connected = true;
        if (this.everConnected)
            ++this.counters.reconnects;
        this.everConnected = true;
    }
    writePending() {
        const events = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        let size = 0;
        for (const event of events)
            size += (0, wire_1.eventFrameSize)(event.length);
        const lastSeq = this.nextSeq + events.length - 1;
        const flush = (0, wire_1.flushFrame)(lastSeq, FLUSH_DEADLINE_MS);
        const out = Buffer.allocUnsafe(size + flush.length);
        let at = 0;
        for (const event of events) {
            at = (0, wire_1.putEventFrame)(out, at, event);
            this.inflight.push({ event, seq: this.nextSeq++ });
        }
        flush.copy(out, at);
        if (this.awaitingAckSince === 0)
            this.awaitingAckSince = Date.now();
        this.socket.write(out);
        this.armWriteTimer();
    }
    armWriteTimer() {
        if (this.writeTimer !== undefined || this.socket === undefined)
            return;
        if (this.socket.writableLength === 0 && this.inflight.length < MAX_INFLIGHT_EVENTS)
            return;
        const mark = this.progress;
        this.writeTimer = setTimeout(() => {
            this.writeTimer = undefined;
            if (this.socket === undefined)
                return;
            if (this.progress !== mark) {
                this.drain(); // the agent read or acknowledged meanwhile: busy, not stalled
                this.armWriteTimer();
            }
            else if (this.socket.writableLength > 0) {
                this.abandonConnection();
            }
            else {
                this.drain(); // nothing pending on the socket: the stall rule of drain() decides
            }
        }, WRITE_STALL_MS);
        this.writeTimer.unref();
    }
    clearWriteTimer() {
        if (this.writeTimer !== undefined)
            clearTimeout(this.writeTimer);
        this.writeTimer = undefined;
    }
    /** The agent does not read: spool what it holds, stop trying for a while, drop the connection
     *  (which also cancels the pending write that would keep the process alive). */
    abandonConnection() {
        const socket = this.socket;
        this.clearWriteTimer();
        this.spoolUnacknowledged();
        this.absentUntil = Date.now() + ABSENT_RETRY_MS;
        this.socket = undefined;
        this.connected = false;
        socket?.destroy();
        if (this.exitTimer !== undefined)
            this.endExitWait();
    }
    onData(socket, chunk) {
        if (socket !== this.socket)
            return;
        this.replies = this.replies.length === 0 ? chunk : Buffer.concat([this.replies, chunk]);
        let at = 0;
        while (this.replies.length - at >= 4) {
            const length = this.replies.readUInt32BE(at);
            if (length > MAX_REPLY_BYTES)
                return void socket.destroy();
            if (this.replies.length - at - 4 < length)
                break;
            const reply = (0, wire_1.decodeReply)(this.replies, at + 4, at + 4 + length);
            at += 4 + length;
            if (reply === null || reply.type === 'error')
                return void socket.destroy();
            if (reply.type === 'flush_ack')
                this.onAck(reply.requestId);
        }
        this.replies = this.replies.subarray(at);
    }
    onAck(requestId) {
        let acked = 0;
        while (acked < this.inflight.length && this.inflight[acked].seq <= requestId)
            ++acked;
        if (acked > 0) {
            this.inflight.splice(0, acked);
            this.counters.delivered += acked;
            this.brokenWithoutProgress = 0;
            this.settle(acked);
        }
        ++this.progress;
        this.ackedSeq = Math.max(this.ackedSeq, requestId);
        this.awaitingAckSince = this.inflight.length > 0 ? Date.now() : 0;
        if (this.inflight.length === 0 && this.exitTimer !== undefined)
            this.endExitWait();
        if (this.pending.length > 0)
            this.drain(); // room again
    }
    onClose(socket) {
        if (socket !== this.socket)
            return;
        this.clearWriteTimer();
        this.socket = undefined;
        const wasConnected = this.connected;
        this.connected = false;
        // Unacknowledged events go back to the front of the queue, in order: re-sent on the next
        // connection (the agent keeps one copy per id) or spooled.
        const back = this.inflight.map((entry) => entry.event);
        this.inflight = [];
        this.pending = back.concat(this.pending);
        for (const event of back)
            this.pendingBytes += event.length;
        this.awaitingAckSince = 0;
        if (!wasConnected || ++this.brokenWithoutProgress >= 3)
            this.absentUntil = Date.now() + ABSENT_RETRY_MS;
        if (this.exitTimer !== undefined)
            this.endExitWait();
        this.drain();
    }
    // ---- settling, waiting ----
    settle(count) {
        this.settled += count;
        this.resolveWaiters();
    }
    allDurable() {
        return this.pending.length === 0 && this.inflight.length === 0;
    }
    resolveWaiters() {
        if (this.waiters.length === 0)
            return;
        const still = [];
        for (const waiter of this.waiters) {
            if (this.settled >= waiter.target || this.closed) {
                clearTimeout(waiter.timer);
                waiter.resolve(this.settled >= waiter.target);
            }
            else {
                still.push(waiter);
            }
        }
        this.waiters = still;
        if (still.length === 0 && this.exitTimer === undefined)
            this.socket?.unref();
    }
    flushTimedOut() {
        // The agent did not acknowledge in time: spool everything unacknowledged (if it had some after
        // all, it keeps one copy per id). That settles every waiter; one that still is not (nothing
        // left to spool, yet not settled) is told false.
        if (this.socket !== undefined && this.socket.writableLength > 0)
            this.abandonConnection();
        else
            this.spoolUnacknowledged();
        this.resolveWaiters();
        for (const waiter of this.waiters) {
            clearTimeout(waiter.timer);
            waiter.resolve(false);
        }
        this.waiters = [];
        if (this.exitTimer === undefined)
            this.socket?.unref();
    }
    // ---- the spool ----
    spoolPending() {
        const events = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        this.spool(events);
    }
    spoolUnacknowledged() {
        const events = this.inflight.map((entry) => entry.event).concat(this.pending);
        this.inflight = [];
        this.pending = [];
        this.pendingBytes = 0;
        this.awaitingAckSince = 0;
        this.spool(events);
    }
    spool(events) {
        if (events.length === 0)
            return;
        const prefix = (this.spoolPrefix ??= (0, wire_1.spoolRecordPrefix)(this.identity, this.signals));
        const records = events.map((event) => {
            const record = Buffer.allocUnsafe((0, wire_1.spoolRecordSize)(prefix, event));
            (0, wire_1.putSpoolRecord)(record, 0, prefix, event);
            return record;
        });
        const { appendToSpool } = require('./spool'); // loaded only when needed
        const result = appendToSpool(this.resolvedPaths().stateDir, records, process.geteuid?.() ?? 0);
        this.counters.spooled += result.spooled;
        this.counters.dropped += result.dropped;
        this.settle(result.spooled + result.dropped);
    }
    // ---- process exit ----
    /** @internal The event loop is empty: wait briefly (ref'd) for the last ack, once per batch. */
    _beforeExit() {
        this.open.record();
        this.drain();
        if (this.closed || this.socket === undefined || this.inflight.length === 0 || this.exitWaitMs === 0)
            return;
        const lastSeq = this.nextSeq - 1;
        if (lastSeq <= this.exitWaitedSeq)
            return;
        this.exitWaitedSeq = lastSeq;
        this.socket.ref();
        this.exitTimer = setTimeout(() => this.endExitWait(), this.exitWaitMs);
    }
    endExitWait() {
        if (this.exitTimer !== undefined)
            clearTimeout(this.exitTimer);
        this.exitTimer = undefined;
        if (this.socket !== undefined && this.socket.writableLength > 0)
            return this.abandonConnection();
        if (this.waiters.length === 0)
            this.socket?.unref();
    }
    /** @internal The process is exiting: record what is open and spool what is unacknowledged. */
    _exit(code) {
        for (const hook of this.exitHooks) {
            try {
                hook(code);
            }
            catch {
                // an integration's hook must not keep the others from running
            }
        }
        this.exitHooks = [];
        this.open.record();
        if (this.mode === 'sending' && !this.closed)
            this.spoolUnacknowledged();
    }
    // ---- debug mode ----
    printDebug(fields) {
        try {
            let line = `{"id":"${(0, wire_1.uuidText)(fields.id)}","tool":${JSON.stringify(this.options.tool)},` +
                `"tool_version":${JSON.stringify(this.options.version ?? '')},"kind":"${KIND_NAMES[fields.kind]}",` +
                `"name":${JSON.stringify(fields.name)},"timestamp_unix_ms":${fields.timestampUnixMs},"attributes":{`;
            let first = true;
            const add = (key, value) => {
                const json = debugValue(value);
                if (json === undefined)
                    return;
                line += `${first ? '' : ','}${JSON.stringify(key)}:${json}`;
                first = false;
            };
            const attributes = fields.attributes;
            if (attributes instanceof Map)
                for (const [k, v] of attributes)
                    add(k, v);
            else if (attributes !== undefined)
                for (const k in attributes)
                    add(k, attributes[k]);
            line += '}';
            if (fields.success !== undefined)
                line += `,"success":${fields.success}`;
            if (fields.durationUs !== undefined)
                line += `,"duration_us":${fields.durationUs}`;
            if (fields.exitCode !== undefined)
                line += `,"exit_code":${fields.exitCode}`;
            process.stderr.write(line + '}\n');
        }
        catch {
            // stderr closed: nothing to tell
        }
    }
    printTrustProblems() {
        // Debug mode sends nothing, but says whether a real run could.
        const paths = this.resolvedPaths();
        const me = process.geteuid?.() ?? 0;
        const check = (0, trust_1.checkSocket)(paths.socket, me);
        let lines = '';
        if (!check.ok && check.refused !== '')
            lines += `telemetry-kit: ${check.refused}; events would be spooled\n`;
        const spool = (0, trust_1.stateDirProblem)(paths.stateDir, me);
        if (spool !== '')
            lines += `telemetry-kit: ${spool}; events would be dropped\n`;
        if (lines !== '')
            process.stderr.write(lines);
    }
    /** Why the last connection attempt refused the socket (an impostor), or ''. */
    get refusedReason() {
        return this.refused;
    }
}
exports.Client = Client;
const KIND_NAMES = { [1 /* Kind.command */]: 'command', [2 /* Kind.feature */]: 'feature', [3 /* Kind.custom */]: 'custom' };
function debugValue(value) {
    switch (typeof value) {
        case 'string': return JSON.stringify(value);
        case 'boolean': return value ? 'true' : 'false';
        case 'bigint': return value.toString();
        case 'number': return Number.isFinite(value) ? String(value) : 'null';
        default:
            if (value instanceof wire_1.DoubleValue)
                return Number.isFinite(value.value) ? String(value.value) : 'null';
            return undefined;
    }
}
