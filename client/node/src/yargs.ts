// yargs integration: `telemetryMiddleware(client)` is a yargs middleware that records the command
// being run, with its duration and outcome (taken at process exit: yargs has no after-command hook,
// and the exit code is the command's outcome). Only the matched command names and the names of the
// declared options that were given travel — never values, never positional arguments.
// Typed structurally: no runtime dependency on yargs (>= 17).

import type { Client } from './fast';

export interface YargsTelemetryOptions {
  /** Record the names of the declared options that were given (default true). */
  optionNames?: boolean;
}

/** The part of a yargs instance this middleware reads. */
interface YargsLike {
  getOptions?(): { key?: Record<string, unknown>; default?: Record<string, unknown>; alias?: Record<string, string[]> };
  getInternalMethods?(): { getContext?(): { commands?: string[] } };
}

const MAX_OPTION_ATTRIBUTES = 32;
const IGNORED_OPTIONS = new Set(['help', 'version', '_', '$0']);

/** The matched command names (`remote add`), or `(default)`. */
export function yargsCommandName(yargs: YargsLike | undefined): string {
  const commands = yargs?.getInternalMethods?.().getContext?.().commands ?? [];
  return commands.length > 0 ? commands.join(' ') : '(default)';
}

/** `{"option.force": true}` for declared options that were given (present and not their default). */
export function yargsOptionAttributes(argv: Record<string, unknown>, yargs: YargsLike | undefined): Record<string, boolean> {
  const options = yargs?.getOptions?.();
  const declared = Object.keys(options?.key ?? {});
  const defaults = options?.default ?? {};
  const aliases = options?.alias ?? {};
  const seen = new Set<string>();
  const attributes: Record<string, boolean> = {};
  let count = 0;
  for (const key of declared) {
    if (IGNORED_OPTIONS.has(key) || seen.has(key) || count >= MAX_OPTION_ATTRIBUTES) continue;
    for (const alias of aliases[key] ?? []) seen.add(alias); // one attribute per option, not per alias
    const value = argv[key];
    if (value === undefined || (key in defaults && value === defaults[key])) continue;
    attributes[`option.${key}`] = true;
    ++count;
  }
  return attributes;
}

/** The middleware: `yargs(...).middleware(telemetryMiddleware(client))`. */
export function telemetryMiddleware(client: Client, options: YargsTelemetryOptions = {}) {
  let started: { name: string; start: number; attributes: Record<string, boolean> } | undefined;
  client.atExit((code) => {
    if (started === undefined) return;
    client.trackCommand(started.name, started.attributes)
      .duration(performance.now() - started.start).success(code === 0).exitCode(code).record();
    started = undefined;
  });
  return (argv: Record<string, unknown>, yargs?: unknown): void => {
    const instance = yargs as YargsLike | undefined;
    if (started !== undefined) return; // one command per process run
    started = {
      name: yargsCommandName(instance),
      start: performance.now(),
      attributes: options.optionNames === false ? {} : yargsOptionAttributes(argv, instance),
    };
  };
}
