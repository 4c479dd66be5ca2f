import type { Client } from './fast';
export interface YargsTelemetryOptions {
    /** Record the names of the declared options that were given (default true). */
    optionNames?: boolean;
}
/** The part of a yargs instance this middleware reads. */
interface YargsLike {
    getOptions?(): {
        key?: Record<string, unknown>;
        default?: Record<string, unknown>;
        alias?: Record<string, string[]>;
    };
    getInternalMethods?(): {
        getContext?(): {
            commands?: string[];
        };
    };
}
/** The matched command names (`remote add`), or `(default)`. */
export declare function yargsCommandName(yargs: YargsLike | undefined): string;
/** `{"option.force": true}` for declared options that were given (present and not their default). */
export declare function yargsOptionAttributes(argv: Record<string, unknown>, yargs: YargsLike | undefined): Record<string, boolean>;
/** The middleware: `yargs(...).middleware(telemetryMiddleware(client))`. */
export declare function telemetryMiddleware(client: Client, options?: YargsTelemetryOptions): (argv: Record<string, unknown>, yargs?: unknown) => void;
export {};
