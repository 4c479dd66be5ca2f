// The first-run consent helper against the real agent, with a terminal played by streams whose
// isTTY is true: asked once, default No, the answer recorded with the agent; never without a
// terminal or in CI.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { PassThrough } = require('stream');
const { askConsentOnce, consentStatus } = require('../dist');
const { manifestRequestFrame, decodeManifestSummary, manifestSummary } = require('../dist/consent');
const { Client } = require('../dist');
const { AGENT, sandbox, startAgent, waitUntil } = require('./support');

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
  assert.match(first.said(), /my-cli would like to collect anonymous usage statistics: which commands and features you use, .*, kept on this machine\. Nothing identifies you\.\nAllow\? \[y\/N\]/);
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

test('the manifest request and its reply', () => {
  assert.strictEqual(manifestRequestFrame(1, 't').toString('hex'), '0000000a2208' + '0801' + '8a0103' + '0a0174');
  // AgentReply{control{request_id, manifest{known, summary "s"}}}
  const reply = (id, response) => {
    const control = Buffer.concat([Buffer.from([0x08, id, 0x8a, 0x01, response.length]), response]);
    return Buffer.concat([Buffer.from([0x12, control.length]), control]);
  };
  const known = Buffer.from('0801220173', 'hex');
  assert.strictEqual(decodeManifestSummary(reply(1, known), 0, reply(1, known).length, 1), 's');
  const unknown = Buffer.from('220173', 'hex'); // not known: none in force
  assert.strictEqual(decodeManifestSummary(reply(1, unknown), 0, reply(1, unknown).length, 1), '');
  assert.strictEqual(decodeManifestSummary(reply(2, known), 0, reply(2, known).length, 1), '');
  const error = Buffer.from('1a040a026e6f', 'hex');
  assert.strictEqual(decodeManifestSummary(error, 0, error.length, 1), '');
});

// With the real collector publishing a manifest (ctest entry consent_manifest.node sets
// TK_TEST_MANIFEST_*): the tool's Hello names its destination, the agent fetches the manifest,
// and the question shows its short form in the C++ client's words.
const manifested = process.env.TK_TEST_MANIFEST_ENDPOINT && process.env.TK_TEST_MANIFEST_TOOL
  ? needsAgent : { skip: 'TK_TEST_MANIFEST_* not set (run through ctest: consent_manifest.node)' };

test('the question shows the manifest the agent enforces', manifested, async (t) => {
  const box = sandbox(t);
  await startAgent(t, box);
  const tool = process.env.TK_TEST_MANIFEST_TOOL;
  const endpoint = process.env.TK_TEST_MANIFEST_ENDPOINT;
  assert.strictEqual(await manifestSummary(tool, { env: box.env }), '', 'none before the tool said where it sends');
  const client = new Client({ tool, version: '1.0', endpoint, ingestKey: process.env.TK_TEST_MANIFEST_KEY, env: box.env });
  client.trackCommand('build').record(); // the Hello names the destination (the event itself waits for consent)
  await client.flush(5000);
  client.close();
  assert.ok(await waitUntil(async () => (await manifestSummary(tool, { env: box.env })) !== '', 30000),
    'the agent did not fetch the manifest in 30 s');
  const summary = process.env.TK_TEST_MANIFEST_SUMMARY;
  assert.strictEqual(await manifestSummary(tool, { env: box.env }), summary, 'the C++ words');
  const io = terminal('y');
  // The published manifest wins over the tool's own words.
  assert.strictEqual(await askConsentOnce({ tool, endpoint, env: box.env, whatIsCollected: "the tool's own words",
    input: io.input, output: io.output }), true);
  assert.ok(io.said().includes(`${tool} would like to collect anonymous usage statistics: ${summary}, sent to ${endpoint}. ` +
    'Nothing identifies you.'), io.said());
  assert.ok(!io.said().includes("the tool's own words"));
});
