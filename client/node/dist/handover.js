"use strict";
// The full client's identity bytes (its Hello and spool records), from the options and environment.
Object.defineProperty(exports, "__esModule", { value: true });
exports.MAX_EVENT_BYTES = void 0;
exports.identityBytes = identityBytes;
const environment_1 = require("./environment");
const wire_1 = require("./wire");
/** Largest encoded event the agent takes; a larger one is dropped and counted. */
exports.MAX_EVENT_BYTES = 64 * 1024;
/** The Hello's / spool record's ToolIdentity and OptOutSignals bytes for these options. */
function identityBytes(options, env) {
    const identity = (0, wire_1.encodeToolIdentity)({
        tool: options.tool, version: options.version ?? '', endpoint: options.endpoint ?? '',
        ingestKey: options.ingestKey ?? '', optOut: options.consentMode === 'opt-out',
        allowCi: options.allowCi === true, localOnly: options.localOnly === true,
        manifestRequired: options.manifestRequired === true,
    });
    return { identity, signals: (0, wire_1.encodeSignals)((0, environment_1.readSignals)(env, options.tool)) };
}
