// Decisions from the environment and the paths: pure functions, no I/O.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { decideMode, readSignals, toolDisabledVariable, truthy, validToolName } = require('../dist/environment');
const { resolvePaths } = require('../dist/paths');
const { judgeDir, judgeSocket } = require('../dist/trust');
const { mayAsk } = require('../dist/consent');

test('truthy: set and not empty, 0 or false (any case)', () => {
  for (const value of ['1', 'true', 'yes', 'FALSEY', ' ']) assert.ok(truthy(value), value);
  for (const value of [undefined, '', '0', 'false', 'False', 'FALSE']) assert.ok(!truthy(value), String(value));
});

test('the tool variable: upper case, every other byte an underscore', () => {
  assert.strictEqual(toolDisabledVariable('my-cli'), 'MY_CLI_TELEMETRY_DISABLED');
  assert.strictEqual(toolDisabledVariable('a.b_c9'), 'A_B_C9_TELEMETRY_DISABLED');
  assert.strictEqual(toolDisabledVariable('é'), '___TELEMETRY_DISABLED'); // two UTF-8 bytes
});

test('mode: debug wins, then DO_NOT_TRACK and the tool variable; invalid names are disabled', () => {
  assert.strictEqual(decideMode({}, 'my-cli', 'linux'), 'sending');
  assert.strictEqual(decideMode({ DO_NOT_TRACK: '1' }, 'my-cli', 'linux'), 'disabled');
  assert.strictEqual(decideMode({ DO_NOT_TRACK: '0' }, 'my-cli', 'linux'), 'sending');
  assert.strictEqual(decideMode({ MY_CLI_TELEMETRY_DISABLED: 'yes' }, 'my-cli', 'linux'), 'disabled');
  assert.strictEqual(decideMode({ TELEMETRY_KIT_DEBUG: '1', DO_NOT_TRACK: '1' }, 'my-cli', 'linux'), 'debug');
  assert.strictEqual(decideMode({}, '', 'linux'), 'disabled');
  assert.strictEqual(decideMode({}, 'has space', 'linux'), 'disabled');
  assert.strictEqual(decideMode({}, 'x'.repeat(65), 'linux'), 'disabled');
  assert.strictEqual(decideMode({}, 'my-cli', 'win32'), 'disabled');
  assert.ok(validToolName('A-z_0.9'));
});

test('signals are raw: values as set (even falsy), CI markers by presence in the agent\'s order', () => {
  const signals = readSignals({ DO_NOT_TRACK: '0', GITHUB_ACTIONS: 'true', CI: '' }, 'my-cli');
  assert.deepStrictEqual(signals, { doNotTrack: '0', toolDisabled: undefined, ciMarkers: ['CI', 'GITHUB_ACTIONS'] });
});

test('paths: the agent\'s rules (overrides, XDG, the state dir, the /tmp fallback for long paths)', () => {
  assert.deepStrictEqual(resolvePaths({ TELEMETRY_KIT_HOME: '/s', TELEMETRY_KIT_SOCKET: '/r/a.sock' }, 1000, '/home/u', 'linux'),
    { socket: '/r/a.sock', stateDir: '/s', spool: '/s/spool' });
  assert.deepStrictEqual(resolvePaths({ XDG_RUNTIME_DIR: '/run/user/1000', XDG_STATE_HOME: '/st' }, 1000, '/home/u', 'linux'),
    { socket: '/run/user/1000/telemetry-kit/agent.sock', stateDir: '/st/telemetry-kit', spool: '/st/telemetry-kit/spool' });
  assert.strictEqual(resolvePaths({ XDG_RUNTIME_DIR: '' }, 1000, '/home/u', 'linux').socket,
    '/home/u/.local/state/telemetry-kit/agent.sock');
  const deep = '/home/' + 'd'.repeat(100);
  assert.strictEqual(resolvePaths({}, 1000, deep, 'linux').socket, '/tmp/telemetry-kit-1000/agent.sock');
  assert.strictEqual(resolvePaths({}, 501, '/Users/u', 'darwin').stateDir, '/Users/u/Library/Application Support/telemetry-kit');
});

test('trust judges: another user\'s or a shared directory, another user\'s socket', () => {
  const dir = (uid, mode) => ({ isDirectory: () => true, uid, mode });
  assert.strictEqual(judgeDir('/d', dir(1000, 0o40700), 1000), '');
  assert.strictEqual(judgeDir('/d', dir(1000, 0o40755), 1000), '');
  assert.match(judgeDir('/d', dir(65534, 0o40700), 1000), /belongs to user 65534, not you \(user 1000\)/);
  assert.match(judgeDir('/d', dir(1000, 0o40777), 1000), /can be written by other users \(mode 0777\)/);
  assert.match(judgeDir('/d', { isDirectory: () => false, uid: 1000, mode: 0 }, 1000), /not a directory/);
  const sock = (uid) => ({ isSocket: () => true, uid });
  assert.strictEqual(judgeSocket('/d/s', sock(1000), 1000), '');
  assert.match(judgeSocket('/d/s', sock(0), 1000), /the socket at \/d\/s belongs to user 0, not you \(user 1000\); telemetry-kit did not send anything to it/);
});

test('the consent prompt asks only on a terminal, never in CI or when opted out', () => {
  const tty = { isTTY: true };
  assert.ok(mayAsk({}, 'my-cli', tty, tty));
  assert.ok(!mayAsk({}, 'my-cli', {}, tty));
  assert.ok(!mayAsk({}, 'my-cli', tty, {}));
  assert.ok(!mayAsk({ CI: 'true' }, 'my-cli', tty, tty));
  assert.ok(!mayAsk({ BUILDKITE: '' }, 'my-cli', tty, tty));
  assert.ok(!mayAsk({ DO_NOT_TRACK: '1' }, 'my-cli', tty, tty));
});
