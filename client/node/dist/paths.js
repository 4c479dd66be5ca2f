"use strict";
// Where the agent's socket and the state dir (spool) are: the same rules as the agent's
// (common/src/paths.cpp; docs/protocol.md §2). Pure: the caller passes env, uid and home.
Object.defineProperty(exports, "__esModule", { value: true });
exports.maxSocketPathBytes = maxSocketPathBytes;
exports.resolvePaths = resolvePaths;
exports.pathsFor = pathsFor;
const path = require("path");
/** Bytes in sockaddr_un.sun_path, the terminating NUL included. */
function maxSocketPathBytes(platform) {
    return platform === 'darwin' ? 104 : 108;
}
function nonEmpty(value) {
    return value !== undefined && value !== '' ? value : undefined;
}
function resolvePaths(env, uid, home, platform = process.platform) {
    let stateDir;
    const override = nonEmpty(env.TELEMETRY_KIT_HOME);
    if (override !== undefined) {
        stateDir = override;
    }
    else if (platform === 'darwin') {
        stateDir = path.join(home, 'Library', 'Application Support', 'telemetry-kit');
    }
    else {
        const state = nonEmpty(env.XDG_STATE_HOME);
        stateDir = state !== undefined ? path.join(state, 'telemetry-kit') : path.join(home, '.local', 'state', 'telemetry-kit');
    }
    return { socket: socketPath(env, uid, stateDir, platform), stateDir, spool: path.join(stateDir, 'spool') };
}
function socketPath(env, uid, stateDir, platform) {
    const explicit = nonEmpty(env.TELEMETRY_KIT_SOCKET);
    if (explicit !== undefined)
        return explicit;
    const runtime = nonEmpty(env.XDG_RUNTIME_DIR);
    if (runtime !== undefined)
        return path.join(runtime, 'telemetry-kit', 'agent.sock');
    // No runtime dir (cron, ssh without a session, containers): the state dir, which no other user
    // can create first; if too long for sockaddr_un, a per-uid dir under /tmp, which the trust
    // checks refuse if another user made it.
    const inState = path.join(stateDir, 'agent.sock');
    if (Buffer.byteLength(inState) < maxSocketPathBytes(platform))
        return inState;
    return path.join('/tmp', `telemetry-kit-${uid}`, 'agent.sock');
}
/** The socket and state dir for this environment and the effective user. */
function pathsFor(env) {
    const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME
        : require('os').homedir(); // `os` loaded only without $HOME: ~0.8 ms of start-up
    return resolvePaths(env, process.getuid?.() ?? 0, home);
}
