import type { Stats } from './client';
import type { AttributeValue, Attributes } from './value';
import type { EventFields, Kind } from './wire';
/** Who receives a recorded event: the small entry's Client or the full one. */
export interface EventSink {
    _submit(fields: EventFields): void;
}
/** An event being built: add outcome and attributes; it is recorded at the end of the current
 *  synchronous run, or at `record()`. */
export declare class EventBuilder {
    private readonly client;
    /** @internal */ fields: EventFields;
    private extra;
    private done;
    /** @internal */
    constructor(client: EventSink | null, kind: Kind, name: string, attributes: Attributes | undefined);
    /** Whether the command succeeded. */
    success(succeeded: boolean): this;
    /** How long the command took, in milliseconds (fractions allowed). */
    duration(milliseconds: number): this;
    /** How long the command took, in microseconds. */
    durationUs(microseconds: number): this;
    /** The command's exit code. */
    exitCode(code: number): this;
    /** Adds (or replaces) an attribute. */
    attribute(key: string, value: AttributeValue): this;
    /** Records the event now; later calls do nothing. */
    record(): void;
    /** Drops the event without recording it. */
    discard(): void;
    /** @internal */
    get recorded(): boolean;
}
/** The builders one client handed out and not yet recorded. They are recorded together at the end
 *  of the synchronous run that made them (one promise job for all of them), or earlier by
 *  `record()` (the client's flush(), close() and exit), whichever comes first: a builder records
 *  once, so a later `record()` of its own does nothing. */
export declare class OpenBuilders {
    private builders;
    private scheduled;
    /** A builder of an event of `sink`. A null sink (a client that sends nothing: disabled, or
     *  closed) gets a builder that records nothing, and the event is counted as tracked and
     *  suppressed in `counters`. */
    add(sink: EventSink | null, counters: Stats, kind: Kind, name: string, attributes: Attributes | undefined): EventBuilder;
    /** Records every open builder now. */
    record(): void;
}
