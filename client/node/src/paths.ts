// Where the agent's socket and the state dir (spool) are: the same rules as the agent's
// (common/src/paths.cpp; docs/protocol.md §2). Pure: the caller passes env, uid and home.

import type * as osModule from 'os';
import * as path from 'path';
import type { Env } from './environment';

export interface Paths {
  socket: string;
  stateDir: string;
  spool: string;
}

/** Bytes in sockaddr_un.sun_path, the terminating NUL included. */
export function maxSocketPathBytes(platform: string): number {
  return platform === 'darwin' ? 104 : 108;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value !== '' ? value : undefined;
}

export function resolvePaths(env: Env, uid: number, home: string, platform: string = process.platform): Paths {
  let stateDir: string;
  const override = nonEmpty(env.TELEMETRY_KIT_HOME);
  if (override !== undefined) {
    stateDir = override;
  } else if (platform === 'darwin') {
    stateDir = path.join(home, 'Library', 'Application Support', 'telemetry-kit');
  } else {
    const state = nonEmpty(env.XDG_STATE_HOME);
    stateDir = state !== undefined ? path.join(state, 'telemetry-kit') : path.join(home, '.local', 'state', 'telemetry-kit');
  }
  return { socket: socketPath(env, uid, stateDir, platform), stateDir, spool: path.join(stateDir, 'spool') };
}

function socketPath(env: Env, uid: number, stateDir: string, platform: string): string {
  const explicit = nonEmpty(env.TELEMETRY_KIT_SOCKET);
  if (explicit !== undefined) return explicit;
  const runtime = nonEmpty(env.XDG_RUNTIME_DIR);
  if (runtime !== undefined) return path.join(runtime, 'telemetry-kit', 'agent.sock');
  // No runtime dir (cron, ssh without a session, containers): the state dir, which no other user
  // can create first; if too long for sockaddr_un, a per-uid dir under /tmp, which the trust
  // checks refuse if another user made it.
  const inState = path.join(stateDir, 'agent.sock');
  if (Buffer.byteLength(inState) < maxSocketPathBytes(platform)) return inState;
  return path.join('/tmp', `telemetry-kit-${uid}`, 'agent.sock');
}

/** The socket and state dir for this environment and the effective user. */
export function pathsFor(env: Env): Paths {
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME
    : (require('os') as typeof osModule).homedir(); // `os` loaded only without $HOME: ~0.8 ms of start-up
  return resolvePaths(env, process.getuid?.() ?? 0, home);
}
