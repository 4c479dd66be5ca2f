"use strict";
// yargs integration: `telemetryMiddleware(client)` is a yargs middleware that records the command
// being run, with its duration and outcome (taken at process exit: yargs has no after-command hook,
// and the exit code is the command's outcome). Only the matched command names and the names of the
// declared options that were given travel — never values, never positional arguments.
// Typed structurally: no runtime dependency on yargs (>= 17).
Object.defineProperty(exports, "__esModule", { value: true });
exports.yargsCommandName = yargsCommandName;
exports.yargsOptionAttributes = yargsOptionAttributes;
exports.telemetryMiddleware = telemetryMiddleware;
const MAX_OPTION_ATTRIBUTES = 32;
const IGNORED_OPTIONS = new Set(['help', 'version', '_', '$0']);
/** The matched command names (`remote add`), or `(default)`. */
function yargsCommandName(yargs) {
    const commands = yargs?.getInternalMethods?.().getContext?.().commands ?? [];
    return commands.length > 0 ? commands.join(' ') : '(default)';
}
/** `{"option.force": true}` for declared options that were given (present and not their default). */
function yargsOptionAttributes(argv, yargs) {
    const options = yargs?.getOptions?.();
    const declared = Object.keys(options?.key ?? {});
    const defaults = options?.default ?? {};
    const aliases = options?.alias ?? {};
    const seen = new Set();
    const attributes = {};
    let count = 0;
    for (const key of declared) {
        if (IGNORED_OPTIONS.has(key) || seen.has(key) || count >= MAX_OPTION_ATTRIBUTES)
            continue;
        for (const alias of aliases[key] ?? [])
            seen.add(alias); // one attribute per option, not per alias
        const value = argv[key];
        if (value === undefined || (key in defaults && value === defaults[key]))
            continue;
        attributes[`option.${key}`] = true;
        ++count;
    }
    return attributes;
}
/** The middleware: `yargs(...).middleware(telemetryMiddleware(client))`. */
function telemetryMiddleware(client, options = {}) {
    let started;
    client.atExit((code) => {
        if (started === undefined)
            return;
        client.trackCommand(started.name, started.attributes)
            .duration(performance.now() - started.start).success(code === 0).exitCode(code).record();
        started = undefined;
    });
    return (argv, yargs) => {
        const instance = yargs;
        if (started !== undefined)
            return; // one command per process run
        started = {
            name: yargsCommandName(instance),
            start: performance.now(),
            attributes: options.optionNames === false ? {} : yargsOptionAttributes(argv, instance),
        };
    };
}
