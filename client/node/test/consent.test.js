// The first-run consent helper against the real agent, with a terminal played by streams whose
// isTTY is true: asked once, default No, the answer recorded with the agent; never without a
// terminal or in CI.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { PassThrough } = require('stream');
const { askConsentOnce, consentStatus } = require('../dist');
const { AGENT, sandbox, startAgent } = require('./support');

const needsAgent = AGENT ? {} : { skip: 'TK_AGENT_BINARY not set (run through ctest)' };

function terminal(answer) {
  const input = new PassThrough();
  const output = new PassThrough();
  input.isTTY = true;
  output.isTTY = true;
  let said = '';
  output.on('data', (chunk) => {
    said += chunk;
    if (answer !== null && said.includes('[y/N]')) {
      input.write(`${answer}\n`);
      answer = null;
    }
  });
  return { input, output, said: () => said };
}

test('asked once on a terminal: the answer is recorded with the agent, and not asked again', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  assert.strictEqual(await consentStatus('my-cli', { env: box.env }), 'unset');
  const first = terminal('y');
  assert.strictEqual(await askConsentOnce({ tool: 'my-cli', env: box.env, input: first.input, output: first.output }), true);
  assert.match(first.said(), /my-cli would like to send anonymous usage data .* to this machine only\. Allow\? \[y\/N\]/);
  assert.match(first.said(), /tk consent deny my-cli/);
  assert.strictEqual(await consentStatus('my-cli', { env: box.env }), 'granted');
  const again = terminal('n');
  assert.strictEqual(await askConsentOnce({ tool: 'my-cli', env: box.env, input: again.input, output: again.output }), null);
  assert.strictEqual(again.said(), '', 'not asked again');
  assert.strictEqual(await consentStatus('my-cli', { env: box.env }), 'granted');
});

test('the default is No', needsAgent, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  const io = terminal('');
  assert.strictEqual(await askConsentOnce({ tool: 'other-cli', env: box.env, input: io.input, output: io.output }), false);
  assert.strictEqual(await consentStatus('other-cli', { env: box.env }), 'denied');
});

test('never asked in CI, without a terminal, or with no agent to keep the answer', async (t) => {
  const box = sandbox(t);
  const io = terminal('y');
  assert.strictEqual(await askConsentOnce({ tool: 'my-cli', env: { ...box.env, CI: 'true' }, input: io.input, output: io.output }), null);
  const pipe = { input: new PassThrough(), output: new PassThrough() };
  assert.strictEqual(await askConsentOnce({ tool: 'my-cli', env: box.env, ...pipe }), null);
  assert.strictEqual(await askConsentOnce({ tool: 'my-cli', env: box.env, input: io.input, output: io.output }), null); // no agent
  assert.strictEqual(io.said(), '');
});
