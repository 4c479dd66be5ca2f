"use strict";
// The builder of one event, shared by the package's small entry (fast.ts) and the full client
// (client.ts): it holds the fields until the event is recorded, then hands them to its sink. Also
// the clients' list of builders handed out and not yet recorded (OpenBuilders), so that when an
// event is recorded is decided in one place for both.
Object.defineProperty(exports, "__esModule", { value: true });
exports.OpenBuilders = exports.EventBuilder = void 0;
const EMPTY_ID = Buffer.alloc(0);
const RESOLVED = Promise.resolve();
/** An event being built: add outcome and attributes; it is recorded at the end of the current
 *  synchronous run, or at `record()`. */
class EventBuilder {
    /** @internal */
    constructor(client, kind, name, attributes) {
        this.client = client;
        this.done = false;
        this.fields = { id: EMPTY_ID, kind, name, timestampUnixMs: Date.now(), attributes };
        if (client === null)
            this.done = true;
    }
    /** Whether the command succeeded. */
    success(succeeded) {
        this.fields.success = succeeded;
        return this;
    }
    /** How long the command took, in milliseconds (fractions allowed). */
    duration(milliseconds) {
        if (Number.isFinite(milliseconds))
            this.fields.durationUs = Math.round(milliseconds * 1000);
        return this;
    }
    /** How long the command took, in microseconds. */
    durationUs(microseconds) {
        if (Number.isFinite(microseconds))
            this.fields.durationUs = Math.round(microseconds);
        return this;
    }
    /** The command's exit code. */
    exitCode(code) {
        if (Number.isInteger(code))
            this.fields.exitCode = code | 0;
        return this;
    }
    /** Adds (or replaces) an attribute. */
    attribute(key, value) {
        if (this.extra === undefined)
            this.extra = new Map();
        this.extra.set(key, value);
        return this;
    }
    /** Records the event now; later calls do nothing. */
    record() {
        if (this.done)
            return;
        this.done = true;
        if (this.extra !== undefined) {
            const merged = new Map();
            const given = this.fields.attributes;
            if (given instanceof Map)
                for (const [k, v] of given)
                    merged.set(k, v);
            else if (given !== undefined)
                for (const k in given)
                    merged.set(k, given[k]);
            for (const [k, v] of this.extra)
                merged.set(k, v);
            this.fields.attributes = merged;
        }
        this.client._submit(this.fields);
    }
    /** Drops the event without recording it. */
    discard() {
        this.done = true;
    }
    /** @internal */
    get recorded() {
        return this.done;
    }
}
exports.EventBuilder = EventBuilder;
/** The builders one client handed out and not yet recorded. They are recorded together at the end
 *  of the synchronous run that made them (one promise job for all of them), or earlier by
 *  `record()` (the client's flush(), close() and exit), whichever comes first: a builder records
 *  once, so a later `record()` of its own does nothing. */
class OpenBuilders {
    constructor() {
        this.builders = [];
        this.scheduled = false;
    }
    /** A builder of an event of `sink`. A null sink (a client that sends nothing: disabled, or
     *  closed) gets a builder that records nothing, and the event is counted as tracked and
     *  suppressed in `counters`. */
    add(sink, counters, kind, name, attributes) {
        const builder = new EventBuilder(sink, kind, name, attributes);
        if (sink === null) {
            ++counters.tracked;
            ++counters.suppressed;
            return builder;
        }
        this.builders.push(builder);
        if (!this.scheduled) {
            this.scheduled = true;
            // A bare promise job: queueMicrotask() wraps each callback in an AsyncResource.
            RESOLVED.then(() => this.record());
        }
        return builder;
    }
    /** Records every open builder now. */
    record() {
        this.scheduled = false;
        const open = this.builders;
        if (open.length === 0)
            return;
        this.builders = [];
        for (const builder of open)
            builder.record();
    }
}
exports.OpenBuilders = OpenBuilders;
