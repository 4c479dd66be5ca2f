/** The spool stops growing here (the agent's import limit): further events are dropped. */
export declare const MAX_SPOOL_BYTES: number;
export interface SpoolResult {
    spooled: number;
    dropped: number;
    /** Why nothing could be written (an untrusted dir or file), else ''. */
    problem: string;
}
/** Appends `records` (each one whole TKS1 record) to `<stateDir>/spool`. Never throws. */
export declare function appendToSpool(stateDir: string, records: Buffer[], me: number): SpoolResult;
