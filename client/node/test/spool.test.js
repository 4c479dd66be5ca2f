// The spool append: a private file of whole records, nothing written where another user or a
// planted link/FIFO is, and no record lost when the agent renames the file during the write.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { appendToSpool, MAX_SPOOL_BYTES } = require('../dist/spool');
const { sandbox, readSpool } = require('./support');

const me = process.geteuid();
const record = (text) => {
  const wire = require('../dist/wire');
  const event = Buffer.from(text);
  const prefix = Buffer.alloc(0);
  const out = Buffer.alloc(wire.spoolRecordSize(prefix, event));
  wire.putSpoolRecord(out, 0, prefix, event);
  return out;
};

test('creates a 0700 state dir and a 0600 spool of intact records, appending', (t) => {
  const box = sandbox(t);
  assert.deepStrictEqual(appendToSpool(box.stateDir, [record('a'), record('b')], me), { spooled: 2, dropped: 0, problem: '' });
  assert.deepStrictEqual(appendToSpool(box.stateDir, [record('c')], me), { spooled: 1, dropped: 0, problem: '' });
  assert.strictEqual(fs.statSync(box.stateDir).mode & 0o777, 0o700);
  assert.strictEqual(fs.statSync(box.spool).mode & 0o777, 0o600);
  const records = readSpool(box.spool);
  assert.deepStrictEqual(records.map((r) => r.crcOk), [true, true, true]);
  assert.deepStrictEqual(records.map((r) => r.payload.subarray(2).toString()), ['a', 'b', 'c']);
});

test('a symlink or a FIFO planted as the spool is not written to, and nothing hangs', (t) => {
  const box = sandbox(t);
  fs.mkdirSync(box.stateDir, { mode: 0o700 });
  const target = path.join(box.root, 'target');
  fs.writeFileSync(target, '');
  fs.symlinkSync(target, box.spool);
  const linked = appendToSpool(box.stateDir, [record('a')], me);
  assert.strictEqual(linked.dropped, 1);
  assert.match(linked.problem, /not a regular file/);
  assert.strictEqual(fs.readFileSync(target).length, 0);
  fs.unlinkSync(box.spool);
  assert.strictEqual(spawnSync('mkfifo', [box.spool]).status, 0);
  const fifo = appendToSpool(box.stateDir, [record('a')], me); // O_NONBLOCK: ENXIO at once, no hang
  assert.strictEqual(fifo.dropped, 1);
  assert.match(fifo.problem, /not a regular file/);
});

test('a state dir others can write to is refused', (t) => {
  const box = sandbox(t);
  fs.mkdirSync(box.stateDir, { mode: 0o700 });
  fs.chmodSync(box.stateDir, 0o777);
  const result = appendToSpool(box.stateDir, [record('a')], me);
  assert.strictEqual(result.dropped, 1);
  assert.match(result.problem, /can be written by other users/);
  assert.ok(!fs.existsSync(box.spool));
});

test('the agent renaming the spool during the write: the records are written again to the new spool', (t) => {
  const box = sandbox(t);
  const importing = path.join(box.stateDir, 'spool.importing');
  const original = fs.writeSync;
  let renamed = false;
  t.after(() => { fs.writeSync = original; });
  fs.writeSync = function (fd, ...rest) {
    const n = original.call(fs, fd, ...rest);
    if (!renamed) {
      renamed = true;
      fs.renameSync(box.spool, importing); // what the agent's import does
    }
    return n;
  };
  assert.deepStrictEqual(appendToSpool(box.stateDir, [record('a'), record('b')], me), { spooled: 2, dropped: 0, problem: '' });
  assert.strictEqual(readSpool(importing).length, 2);
  assert.strictEqual(readSpool(box.spool).length, 2); // the same records again: the agent keeps one copy per id
});

test('the spool stops at 16 MiB: the rest is dropped and counted', (t) => {
  const box = sandbox(t);
  fs.mkdirSync(box.stateDir, { mode: 0o700 });
  fs.writeFileSync(box.spool, Buffer.alloc(MAX_SPOOL_BYTES - 20), { mode: 0o600 });
  const result = appendToSpool(box.stateDir, [record('a'), record('b'.repeat(100))], me);
  assert.deepStrictEqual(result, { spooled: 1, dropped: 1, problem: '' });
});
