import type { Client } from './fast';
/** The part of commander's Command this integration uses. */
export interface CommanderCommand {
    name(): string;
    parent: CommanderCommand | null;
    options: ReadonlyArray<{
        attributeName(): string;
        long?: string;
        short?: string;
    }>;
    getOptionValueSource?(key: string): string | undefined;
    opts(): Record<string, unknown>;
    hook(event: 'preAction' | 'postAction', listener: (thisCommand: CommanderCommand, actionCommand: CommanderCommand) => void | Promise<void>): unknown;
}
export interface CommanderTelemetryOptions {
    /** Record the names of the options given on the command line (default true). */
    optionNames?: boolean;
}
/** `remote add` for the `add` subcommand of `remote`; the program's own name for a root action. */
export declare function commandPath(command: CommanderCommand): string;
/** `{"option.force": true, ...}` for the options given on the command line or by environment. */
export declare function optionNameAttributes(command: CommanderCommand): Record<string, boolean>;
/** Instruments `program` (and its subcommands: hooks run for every action). */
export declare function instrumentCommander(program: CommanderCommand, client: Client, options?: CommanderTelemetryOptions): void;
