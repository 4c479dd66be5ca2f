// Shared by the Node benchmarks: a real tk-agent in a temp dir, percentiles, a sink process.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..');
const AGENT = process.env.TK_AGENT_BINARY || path.join(REPO, 'build', 'daemon', 'tk-agent');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(sorted, 0.5);
}

function canConnect(socketPath) {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path: socketPath });
    socket.on('connect', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

async function waitFor(condition, deadlineMs = 10000) {
  const until = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A temp dir with a hermetic environment and a running tk-agent; `stop()` removes both. */
async function startAgent() {
  if (!fs.existsSync(AGENT)) throw new Error(`no tk-agent at ${AGENT}: build it, or set TK_AGENT_BINARY`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tk-node-bench-'));
  fs.mkdirSync(path.join(root, 'run'), { mode: 0o700 });
  const env = {
    PATH: process.env.PATH, HOME: path.join(root, 'home'), XDG_RUNTIME_DIR: path.join(root, 'run'),
    XDG_STATE_HOME: path.join(root, 'state'), XDG_CONFIG_HOME: path.join(root, 'config'),
    TELEMETRY_KIT_HOME: path.join(root, 'tk-home'), TELEMETRY_KIT_SOCKET: path.join(root, 'run', 'agent.sock'),
  };
  const agent = spawn(AGENT, ['--socket', env.TELEMETRY_KIT_SOCKET, '--home', env.TELEMETRY_KIT_HOME], { env, stdio: 'ignore' });
  const exited = new Promise((resolve) => agent.on('exit', resolve));
  await waitFor(() => canConnect(env.TELEMETRY_KIT_SOCKET));
  return {
    root, env,
    async stop() {
      agent.kill('SIGTERM');
      await exited;
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

module.exports = { REPO, percentile, median, startAgent, waitFor, canConnect };
