// The Commander.js and yargs integrations, through the example CLIs in examples/node-*, against the
// real agent: each command recorded once with duration and outcome, option names but never values.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { AGENT, REPO_DIR, sandbox, startAgent, queued, waitUntil } = require('./support');

function example(name) {
  const dir = path.join(REPO_DIR, 'examples', name);
  const installed = fs.existsSync(path.join(dir, 'node_modules', 'telemetry-kit'));
  const skip = !AGENT ? 'TK_AGENT_BINARY not set (run through ctest)'
    : !installed ? `examples/${name} has no node_modules (client/node/scripts/npm-setup.sh)` : false;
  return { cli: path.join(dir, 'cli.js'), skip };
}

function run(box, cli, args) {
  return spawnSync(process.execPath, [cli, ...args], { env: box.env, encoding: 'utf8', timeout: 30000 });
}

for (const [name, tool] of [['node-commander', 'node-commander-example'], ['node-yargs', 'node-yargs-example']]) {
  const { cli, skip } = example(name);

  test(`${name}: a command is recorded with its duration, success and option names, never values`, { skip }, async (t) => {
    const box = sandbox(t);
    await startAgent(t, box);
    const result = run(box, cli, ['build', '--target', 'secret-value-42', '--force']);
    assert.strictEqual(result.status, 0, result.stderr);
    assert.match(result.stdout, /building secret-value-42 \(forced\)/);
    assert.ok(await waitUntil(() => queued(box, tool).length === 1));
    const [event] = queued(box, tool);
    assert.strictEqual(event.name, 'build');
    assert.strictEqual(event.kind, 'EVENT_KIND_COMMAND');
    assert.strictEqual(event.success, true);
    assert.strictEqual(event.exit_code, 0);
    assert.ok(Number(event.duration_us) > 0);
    assert.deepStrictEqual(event.attributes, { 'option.target': { bool_value: true }, 'option.force': { bool_value: true } });
    assert.ok(!JSON.stringify(event).includes('secret-value-42'), 'an option value travelled');
  });

  test(`${name}: a command that throws is recorded as a failure with the exit code`, { skip }, async (t) => {
    const box = sandbox(t);
    await startAgent(t, box);
    const result = run(box, cli, ['fail']);
    assert.notStrictEqual(result.status, 0);
    assert.ok(await waitUntil(() => queued(box, tool).length === 1));
    const [event] = queued(box, tool);
    assert.deepStrictEqual([event.name, event.success, event.exit_code], ['fail', false, result.status]);
  });
}
