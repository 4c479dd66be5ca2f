"use strict";
// What both the full client and the small entry need to hand events to the spool without a
// connection: the tool's identity bytes, the paths, and "encode these events and append them".
// Loaded by the small entry (fast.ts) only in its `exit` handler, so a one-event CLI never loads
// the socket code (client.ts).
Object.defineProperty(exports, "__esModule", { value: true });
exports.MAX_EVENT_BYTES = void 0;
exports.identityBytes = identityBytes;
exports.pathsFor = pathsFor;
exports.spoolFields = spoolFields;
const environment_1 = require("./environment");
const paths_1 = require("./paths");
const wire_1 = require("./wire");
/** Largest encoded event the agent takes; a larger one is dropped and counted. */
exports.MAX_EVENT_BYTES = 64 * 1024;
/** The Hello's / spool record's ToolIdentity and OptOutSignals bytes for these options. */
function identityBytes(options, env) {
    const identity = (0, wire_1.encodeToolIdentity)({
        tool: options.tool, version: options.version ?? '', endpoint: options.endpoint ?? '',
        ingestKey: options.ingestKey ?? '', optOut: options.consentMode === 'opt-out',
        allowCi: options.allowCi === true, localOnly: options.localOnly === true,
    });
    return { identity, signals: (0, wire_1.encodeSignals)((0, environment_1.readSignals)(env, options.tool)) };
}
/** The socket and state dir for this environment and the effective user. */
function pathsFor(env) {
    const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME
        : require('os').homedir(); // `os` loaded only without $HOME: ~0.8 ms of start-up
    return (0, paths_1.resolvePaths)(env, process.getuid?.() ?? 0, home);
}
/** Gives each event its id, encodes it and appends all of them to the spool in one go (the small
 *  entry's exit path, docs/protocol.md §6). Never throws. */
function spoolFields(options, env, events) {
    let tooLarge = 0;
    try {
        const { identity, signals } = identityBytes(options, env);
        const prefix = (0, wire_1.spoolRecordPrefix)(identity, signals);
        const w = new wire_1.Writer(1024);
        const records = [];
        for (const fields of events) {
            fields.id = Buffer.allocUnsafe(16);
            (0, wire_1.putUuidV7)(fields.id, 0, fields.timestampUnixMs);
            w.reset();
            (0, wire_1.encodeEvent)(w, options.tool, options.version ?? '', fields);
            if (w.pos > exports.MAX_EVENT_BYTES) {
                ++tooLarge;
                continue;
            }
            const event = w.buf.subarray(0, w.pos);
            const record = Buffer.allocUnsafe((0, wire_1.spoolRecordSize)(prefix, event));
            (0, wire_1.putSpoolRecord)(record, 0, prefix, event);
            records.push(record);
        }
        const { appendToSpool } = require('./spool');
        const result = appendToSpool(pathsFor(env).stateDir, records, process.geteuid?.() ?? 0);
        return { ...result, dropped: result.dropped + tooLarge };
    }
    catch (error) {
        return { spooled: 0, dropped: events.length, problem: `cannot spool: ${error.message}` };
    }
}
