// Helpers for the Node client's tests: temp dirs, a real tk-agent, child Node processes, waits on
// conditions with deadlines (never a bare sleep as synchronisation).
'use strict';

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const PACKAGE_DIR = path.resolve(__dirname, '..');
const REPO_DIR = path.resolve(PACKAGE_DIR, '..', '..');
const AGENT = process.env.TK_AGENT_BINARY;
const TK = process.env.TK_CLI_BINARY;

/** A fresh temp dir with a hermetic environment under it (never the real home). */
function sandbox(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tk-node-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const run = path.join(root, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const env = {
    PATH: process.env.PATH,
    HOME: path.join(root, 'home'),
    XDG_RUNTIME_DIR: run,
    XDG_STATE_HOME: path.join(root, 'state'),
    XDG_CONFIG_HOME: path.join(root, 'config'),
    TELEMETRY_KIT_HOME: path.join(root, 'tk-home'),
    TELEMETRY_KIT_SOCKET: path.join(run, 'agent.sock'),
  };
  return { root, env, socket: env.TELEMETRY_KIT_SOCKET, stateDir: env.TELEMETRY_KIT_HOME, spool: path.join(env.TELEMETRY_KIT_HOME, 'spool') };
}

async function waitUntil(condition, deadlineMs = 10000) {
  const until = Date.now() + deadlineMs;
  let pause = 2;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 20);
  }
}

function canConnect(socketPath) {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path: socketPath });
    socket.on('connect', () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

/** Starts the real tk-agent on the sandbox's socket and state dir; stopped after the test. */
async function startAgent(t, box) {
  const log = fs.openSync(path.join(box.root, 'agent.log'), 'a');
  const agent = spawn(AGENT, ['--socket', box.socket, '--home', box.stateDir, '--log-level', 'debug'],
    { env: box.env, stdio: ['ignore', log, log] });
  const exited = new Promise((resolve) => agent.on('exit', resolve));
  t.after(async () => {
    agent.kill('SIGTERM');
    await exited;
    fs.closeSync(log);
  });
  if (!(await waitUntil(() => canConnect(box.socket)))) throw new Error('tk-agent did not start: ' + fs.readFileSync(path.join(box.root, 'agent.log'), 'utf8'));
  return { stop: async () => { agent.kill('SIGTERM'); await exited; } };
}

/** `tk <args>` against the sandbox's agent. */
function tk(box, args) {
  return spawnSync(TK, args, { env: box.env, encoding: 'utf8', timeout: 20000, maxBuffer: 256 << 20 });
}

/** The events the agent holds for `tool` (tk events --json). */
function queued(box, tool) {
  const result = tk(box, ['events', '--json', '--tool', tool, '--limit', '20000']);
  if (result.status !== 0) throw new Error(`tk events: ${result.error ?? ''} ${result.stderr}`);
  return JSON.parse(result.stdout).events ?? [];
}

/** Runs `source` in a child Node with the sandbox's environment (plus `extra`). */
function runNode(box, source, extra = {}, args = []) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', source, ...args], {
    cwd: PACKAGE_DIR, env: { ...box.env, ...extra }, encoding: 'utf8', timeout: 30000,
  });
  result.elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  return result;
}

/** Every record of a spool file, parsed minimally: [{payload, crcOk}]. */
function readSpool(file) {
  const { crc32 } = require('../dist/wire');
  const bytes = fs.readFileSync(file);
  const records = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.toString('latin1', at, at + 4) !== 'TKS1') throw new Error(`no record at ${at}`);
    const length = bytes.readUInt32BE(at + 4);
    const payload = bytes.subarray(at + 12, at + 12 + length);
    const crcOk = crc32(payload, crc32(bytes.subarray(at + 4, at + 8))) === bytes.readUInt32BE(at + 8);
    records.push({ payload, crcOk });
    at += 12 + length;
  }
  return records;
}

module.exports = { PACKAGE_DIR, REPO_DIR, AGENT, TK, sandbox, waitUntil, startAgent, tk, queued, runNode, readSpool };
