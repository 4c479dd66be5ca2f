// Commander.js integration: `instrumentCommander(program, client)` records each command run with
// its duration and outcome, from Commander's `preAction`/`postAction` hooks. Only option *names*
// travel (as `option.<name>: true`), never their values, and never positional arguments.
// Typed structurally, so telemetry-kit needs no runtime dependency on commander (>= 8).

import type { Client } from './fast';

/** The part of commander's Command this integration uses. */
export interface CommanderCommand {
  name(): string;
  parent: CommanderCommand | null;
  options: ReadonlyArray<{ attributeName(): string; long?: string; short?: string }>;
  getOptionValueSource?(key: string): string | undefined;
  opts(): Record<string, unknown>;
  hook(event: 'preAction' | 'postAction', listener: (thisCommand: CommanderCommand, actionCommand: CommanderCommand) => void | Promise<void>): unknown;
}

export interface CommanderTelemetryOptions {
  /** Record the names of the options given on the command line (default true). */
  optionNames?: boolean;
}

const MAX_OPTION_ATTRIBUTES = 32;

/** `remote add` for the `add` subcommand of `remote`; the program's own name for a root action. */
export function commandPath(command: CommanderCommand): string {
  const names: string[] = [];
  for (let c: CommanderCommand | null = command; c !== null && c.parent !== null; c = c.parent) names.unshift(c.name());
  return names.length > 0 ? names.join(' ') : command.name();
}

/** `{"option.force": true, ...}` for the options given on the command line or by environment. */
export function optionNameAttributes(command: CommanderCommand): Record<string, boolean> {
  const attributes: Record<string, boolean> = {};
  let count = 0;
  const values = command.opts();
  for (const option of command.options) {
    const key = option.attributeName();
    const source = command.getOptionValueSource?.(key);
    const given = source !== undefined ? source === 'cli' || source === 'env' : values[key] !== undefined;
    if (!given || count >= MAX_OPTION_ATTRIBUTES) continue;
    const name = (option.long ?? option.short ?? key).replace(/^-+/, '');
    attributes[`option.${name}`] = true;
    ++count;
  }
  return attributes;
}

/** Instruments `program` (and its subcommands: hooks run for every action). */
export function instrumentCommander(program: CommanderCommand, client: Client, options: CommanderTelemetryOptions = {}): void {
  const running = new Map<CommanderCommand, { start: number; attributes: Record<string, boolean> }>();
  program.hook('preAction', (_thisCommand, actionCommand) => {
    const attributes = options.optionNames === false ? {} : optionNameAttributes(actionCommand);
    running.set(actionCommand, { start: performance.now(), attributes });
  });
  program.hook('postAction', (_thisCommand, actionCommand) => {
    const run = running.get(actionCommand);
    if (run === undefined) return;
    running.delete(actionCommand);
    const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    client.trackCommand(commandPath(actionCommand), run.attributes)
      .duration(performance.now() - run.start).success(code === 0).exitCode(code).record();
  });
  // An action that throws (or a rejected async action) never reaches postAction: the process ends
  // with an uncaught error, and the command is recorded as failed at exit.
  client.atExit((code) => {
    for (const [command, run] of running) {
      client.trackCommand(commandPath(command), run.attributes)
        .duration(performance.now() - run.start).success(false).exitCode(code === 0 ? 1 : code).record();
    }
    running.clear();
  });
}
