// The client against the real agent (tk-agent, started per test in a temp dir) and against
// listeners of its own: delivery, exit without delay, the spool, opt-outs and debug mode.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const net = require('net');
const { AGENT, sandbox, startAgent, queued, runNode, readSpool, tk, waitUntil } = require('./support');

const needsAgent = AGENT ? {} : { skip: 'TK_AGENT_BINARY not set (run through ctest)' };
const CONFIG = "{ tool: 'node-test', version: '2.0.0', consentMode: 'opt-out' }";

/** A child that records `body` (using `client`) and prints its stats as JSON on exit. */
function script(body) {
  return `const { Client } = require('./dist');
const client = new Client(${CONFIG});
process.on('exit', () => process.stdout.write(JSON.stringify({ mode: client.mode, ...client.stats() }) + '\\n'));
${body}`;
}

function stats(result) {
  assert.strictEqual(result.status, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

/** A Unix listener in the sandbox that accepts and never reads. `connections()` counts what the
 *  children made: the test's own event loop was blocked while they ran (spawnSync), so it first
 *  connects a marker of its own and waits until that is accepted — connections are accepted in
 *  order, so every earlier one has been counted by then. */
async function stalledListener(t, socketPath) {
  const held = [];
  const server = net.createServer((connection) => { connection.pause(); held.push(connection); });
  t.after(() => { for (const c of held) c.destroy(); server.close(); });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  return {
    async connections() {
      const marker = net.createConnection({ path: socketPath });
      const before = held.length;
      assert.ok(await waitUntil(() => held.length > before));
      await new Promise((resolve) => setImmediate(resolve));
      marker.destroy();
      return held.length - 1;
    },
  };
}

test('recorded events reach the agent once, and the process exits by itself without a flush', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  const result = runNode(box, script(`client.trackCommand('build', { target: 'release', jobs: 4 }).success(true).duration(12.5);
client.trackFeature('cache.remote');`));
  const after = stats(result);
  assert.strictEqual(after.tracked, 2);
  assert.strictEqual(after.delivered + after.spooled, 2); // spooled at exit: the process ended within 50 ms of its first event
  assert.ok(await waitUntil(() => queued(box, 'node-test').length === 2), 'both events queued');
  const build = queued(box, 'node-test').find((e) => e.name === 'build');
  assert.deepStrictEqual(build.attributes, { target: { string_value: 'release' }, jobs: { int_value: '4' } });
  assert.strictEqual(build.duration_us, '12500');
  assert.strictEqual(build.tool_version, '2.0.0');
});

test('process.exit() right after recording: the events are spooled synchronously and imported once', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  const after = stats(runNode(box, script(`for (let i = 0; i < 3; i++) client.trackCommand('quick', { i });
process.exit(0);`)));
  assert.strictEqual(after.tracked, 3);
  assert.strictEqual(after.spooled, 3);
  assert.ok(await waitUntil(() => queued(box, 'node-test').length === 3), 'imported by the running agent');
  assert.deepStrictEqual(queued(box, 'node-test').map((e) => Number(e.attributes.i.int_value ?? 0)).sort(), [0, 1, 2]);
});

test('agent absent: flush() spools at once and resolves true; the agent imports on start', needsAgent, async (t) => {
  const box = sandbox(t);
  const after = stats(runNode(box, script(`client.trackCommand('offline').success(false).exitCode(2);
client.flush(5000).then((ok) => { if (!ok) process.exitCode = 9; });`)));
  assert.deepStrictEqual([after.spooled, after.delivered, after.dropped], [1, 0, 0]);
  assert.strictEqual(readSpool(box.spool).length, 1);
  await startAgent(t, box);
  assert.ok(await waitUntil(() => queued(box, 'node-test').length === 1));
  const event = queued(box, 'node-test')[0];
  assert.deepStrictEqual([event.name, event.success, event.exit_code], ['offline', false, 2]);
});

test('manifestRequired: the agent holds the events, from the engine\'s Hello and from the entry\'s spool record', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  // Port 1 refuses connections: the collector never answers for the manifest, so the agent holds
  // the tool's events in memory (docs/privacy.md §1b) — it can only if field 16 reached it.
  const config = "{ tool: 'node-manifest', version: '1', endpoint: 'http://127.0.0.1:1', ingestKey: 'k', consentMode: 'opt-out', manifestRequired: true }";
  const viaEngine = runNode(box, `const { Client } = require('./dist');
const client = new Client(${config});
client.trackCommand('engine');
client.flush(5000).then((ok) => { process.stdout.write(JSON.stringify(client.stats()) + '\\n'); if (!ok) process.exitCode = 9; });`);
  const engine = stats(viaEngine);
  assert.deepStrictEqual([engine.spooled, engine.dropped], [0, 0]); // handed over on the socket, and acknowledged
  const viaSpool = runNode(box, `const { Client } = require('./dist');
const client = new Client(${config});
client.trackCommand('spooled');
process.on('exit', () => process.stdout.write(JSON.stringify(client.stats()) + '\\n'));`);
  assert.strictEqual(stats(viaSpool).spooled, 1);
  const status = () => tk(box, ['status']).stdout;
  assert.ok(await waitUntil(() => status().includes('2 events held in memory')), status());
  assert.deepStrictEqual(queued(box, 'node-manifest'), []);
});

test('a stalled agent (accepts, never reads): the process exits on its own, every event spooled', async (t) => {
  const box = sandbox(t);
  const listener = await stalledListener(t, box.socket);
  // 100 events: past the 64 a short process holds in memory, so the full client connects.
  const result = runNode(box, script(`for (let i = 0; i < 100; i++) client.trackFeature('f', { i });`));
  const after = stats(result);
  assert.strictEqual(after.spooled, 100);
  assert.strictEqual(after.delivered, 0);
  assert.strictEqual(readSpool(box.spool).length, 100);
  assert.strictEqual(await listener.connections(), 1);
});

test('a one-command process that exits at once: no connection, the event is spooled at exit', async (t) => {
  const box = sandbox(t);
  const listener = await stalledListener(t, box.socket);
  const result = runNode(box, script(`client.trackCommand('build').success(true);
process.on('exit', () => process.stderr.write(Object.keys(require.cache).filter((f) => f.includes('telemetry-kit-engine') || f.endsWith('client.js')).length + ' engine files\\n'));`));
  const after = stats(result);
  assert.deepStrictEqual([after.tracked, after.spooled, after.delivered], [1, 1, 0]);
  assert.strictEqual(readSpool(box.spool).length, 1);
  assert.strictEqual(await listener.connections(), 0);
  assert.match(result.stderr, /^0 engine files$/m, 'the socket client was never loaded');
});

test('a process still running 50 ms after its first event connects and delivers it', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  const after = stats(runNode(box, script(`client.trackCommand('long').success(true);
const until = Date.now() + 2000;
const wait = () => { if (client.stats().delivered === 0 && Date.now() < until) setTimeout(wait, 5); };
setTimeout(wait, 5);`)));
  assert.deepStrictEqual([after.tracked, after.delivered, after.spooled], [1, 1, 0]);
  assert.ok(await waitUntil(() => queued(box, 'node-test').length === 1));
});

test('a stalled agent and 20,000 events: memory stays bounded, every event is spooled or counted', async (t) => {
  const box = sandbox(t);
  await stalledListener(t, box.socket);
  const after = stats(runNode(box, script(`const pad = 'x'.repeat(200);
for (let i = 0; i < 20000; i++) client.trackFeature('f', { i, pad });
client.flush(300).then(() => { process.stdout.write(JSON.stringify({ heapMB: process.memoryUsage().heapUsed >> 20 }) + '\\n'); });`)));
  assert.strictEqual(after.tracked, 20000);
  assert.strictEqual(after.spooled, 20000); // a burst larger than the queue goes on to the spool, not lost
  assert.strictEqual(after.dropped, 0);
  assert.strictEqual(readSpool(box.spool).length, after.spooled);
});

test('DO_NOT_TRACK and the tool variable: no connection, no file, counted as suppressed', async (t) => {
  for (const extra of [{ DO_NOT_TRACK: '1' }, { NODE_TEST_TELEMETRY_DISABLED: 'true' }]) {
    const box = sandbox(t);
    const listener = await stalledListener(t, box.socket);
    const after = stats(runNode(box, script(`client.trackCommand('build').success(true);
client.flush(1000);`), extra));
    assert.deepStrictEqual([after.mode, after.suppressed, after.spooled, after.delivered], ['disabled', 1, 0, 0]);
    assert.strictEqual(await listener.connections(), 0, 'no connection');
    assert.ok(!fs.existsSync(box.stateDir), 'no state dir created');
  }
});

test('debug mode prints each event as one JSON line and sends nothing', async (t) => {
  const box = sandbox(t);
  const listener = await stalledListener(t, box.socket);
  const result = runNode(box, script(`client.trackCommand('build', { target: 'release', n: 1.5 }).success(true).durationUs(7);`),
    { TELEMETRY_KIT_DEBUG: '1' });
  const after = stats(result);
  assert.deepStrictEqual([after.mode, after.suppressed], ['debug', 1]);
  const line = result.stderr.split('\n').find((l) => l.startsWith('{'));
  const event = JSON.parse(line);
  assert.deepStrictEqual(Object.keys(event), ['id', 'tool', 'tool_version', 'kind', 'name', 'timestamp_unix_ms', 'attributes', 'success', 'duration_us']);
  assert.deepStrictEqual(event.attributes, { target: 'release', n: 1.5 });
  assert.ok(!fs.existsSync(box.spool));
  assert.ok(!result.stderr.includes('telemetry-kit:'), 'a trusted socket: nothing to say');
});

test('a socket in a directory others can write to is refused: spooled, and debug mode says why', async (t) => {
  const box = sandbox(t);
  const listener = await stalledListener(t, box.socket);
  fs.chmodSync(require('path').dirname(box.socket), 0o777);
  const after = stats(runNode(box, script(`client.trackCommand('build'); client.flush(1000);`)));
  assert.deepStrictEqual([after.spooled, after.delivered], [1, 0]);
  assert.strictEqual(await listener.connections(), 0, 'not even connected');
  const debug = runNode(box, script(`client.trackCommand('build');`), { TELEMETRY_KIT_DEBUG: '1' });
  assert.match(debug.stderr, /telemetry-kit: the directory .* can be written by other users \(mode 0777\); telemetry-kit did not connect to the socket .*; events would be spooled/);
});

test('the agent restarted between two flushes: every event stored once', needsAgent, async (t) => {
  const box = sandbox(t);
  let agent = await startAgent(t, box);
  const child = require('child_process').spawn(process.execPath, ['-e', script(`
let round = 0;
process.stdin.on('data', async () => {
  for (let i = 0; i < 200; i++) client.trackFeature('r', { i: round * 200 + i });
  const ok = await client.flush(10000);
  process.stdout.write((ok ? 'ok' : 'late') + '\\n');
  if (++round === 2) process.stdin.destroy();
});`)], { cwd: require('./support').PACKAGE_DIR, env: box.env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stdin.write('go\n');
  assert.ok(await waitUntil(() => out.includes('\n'), 20000));
  await agent.stop();
  agent = await startAgent(t, box);
  child.stdin.write('go\n');
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.strictEqual(code, 0);
  assert.ok(await waitUntil(() => queued(box, 'node-test').length === 400, 20000), 'all 400 queued');
  const values = new Set(queued(box, 'node-test').map((e) => Number(e.attributes.i.int_value ?? 0)));
  assert.strictEqual(values.size, 400);
});

test('10,000 events in one synchronous run with the agent up: none dropped, each stored once', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  const after = stats(runNode(box, script(`for (let i = 0; i < 10000; i++) client.trackFeature('burst', { i });
client.flush(10000).then((ok) => { if (!ok) process.exitCode = 9; });`)));
  assert.strictEqual(after.tracked, 10000);
  assert.strictEqual(after.dropped, 0);
  assert.strictEqual(after.delivered + after.spooled, 10000);
  assert.ok(await waitUntil(() => queued(box, 'node-test').length === 10000, 20000), 'all 10,000 queued (spooled ones imported)');
  assert.strictEqual(new Set(queued(box, 'node-test').map((e) => e.id)).size, 10000);
});
