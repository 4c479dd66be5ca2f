#!/usr/bin/env node
// trackCommand() per-call cost next to a bare socket.write() of the same bytes (issue 12: p50 <= 2 us).
//   node bench/node/track.js [events=50000] [batch=100]   (needs build/daemon/tk-agent, or TK_AGENT_BINARY)
// The client is connected to a real tk-agent; the bare write goes to a sink process that reads and
// discards. Each call is timed alone (process.hrtime.bigint, ~50 ns of its own); calls come in
// batches (of 100) with a yield in between, as a real tool would record them, so the client's
// batched write happens between timed calls — the amortized figure counts it too.
'use strict';

const { spawn } = require('child_process');
const net = require('net');
const path = require('path');
const { percentile, startAgent, waitFor, canConnect, REPO } = require('./common');
const { Client } = require(path.join(REPO, 'client', 'node'));
const wire = require(path.join(REPO, 'client', 'node', 'dist', 'wire'));

const EVENTS = Number(process.argv[2] || 50000);
const BATCH = Number(process.argv[3] || 100);
const yieldNow = () => new Promise((resolve) => setImmediate(resolve));

async function timeCalls(call, batch = BATCH) {
  const samples = new Float64Array(EVENTS);
  const start = process.hrtime.bigint();
  for (let done = 0; done < EVENTS; done += batch) {
    for (let i = done; i < done + batch; i++) {
      const t0 = process.hrtime.bigint();
      call(i);
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
    await yieldNow();
  }
  const totalNs = Number(process.hrtime.bigint() - start);
  samples.sort();
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), amortized: totalNs / EVENTS };
}

async function sink(socketPath) {
  const child = spawn(process.execPath, ['-e', `require('net').createServer((c) => c.on('data', () => {})).listen(${JSON.stringify(socketPath)})`], { stdio: 'ignore' });
  await waitFor(() => canConnect(socketPath));
  const socket = net.createConnection({ path: socketPath });
  await new Promise((resolve) => socket.on('connect', resolve));
  return { socket, stop: () => { socket.destroy(); child.kill(); } };
}

async function main() {
  const agent = await startAgent();
  try {
    Object.assign(process.env, agent.env);
    const client = new Client({ tool: 'bench-node', version: '1.0.0', consentMode: 'opt-out', localOnly: true });
    client.trackCommand('warmup').record();
    await client.flush(5000); // connected, Hello sent
    for (let i = 0; i < 20000; i++) { // JIT warm-up, paced like the measured calls
      client.trackCommand('build', { target: 'release' }).success(true).record();
      if (i % BATCH === 0) await yieldNow();
    }
    await client.flush(10000);

    const tracked = await timeCalls(() => client.trackCommand('build', { target: 'release' }).success(true).record());
    const flushed = await client.flush(30000);

    // The same bytes, framed, written bare.
    const w = new wire.Writer();
    const id = Buffer.alloc(16);
    wire.putUuidV7(id, 0, Date.now());
    wire.encodeEvent(w, 'bench-node', '1.0.0', { id, kind: 1, name: 'build', timestampUnixMs: Date.now(), attributes: { target: 'release' }, success: true });
    const event = w.take();
    const frame = Buffer.alloc(wire.eventFrameSize(event.length));
    wire.putEventFrame(frame, 0, event);
    const bare = await sink(path.join(agent.root, 'run', 'sink.sock'));
    for (let i = 0; i < 20000; i++) bare.socket.write(frame);
    const written = await timeCalls(() => bare.socket.write(frame));
    // One write per tick: nothing queued in the stream, so each call is a real write(2) to the kernel.
    const single = await timeCalls(() => bare.socket.write(frame), 1);
    bare.stop();

    const stats = client.stats();
    const us = (ns) => (ns / 1000).toFixed(2);
    console.log(`node ${process.version}, ${EVENTS} events of ${frame.length} bytes (framed), batches of ${BATCH}`);
    console.log(`trackCommand().success().record()  p50 ${us(tracked.p50)} us  p99 ${us(tracked.p99)} us  amortized ${us(tracked.amortized)} us/event (incl. batched writes)`);
    console.log(`bare socket.write(frame)           p50 ${us(written.p50)} us  p99 ${us(written.p99)} us  amortized ${us(written.amortized)} us/event`);
    console.log(`bare socket.write(frame), 1/tick   p50 ${us(single.p50)} us  p99 ${us(single.p99)} us  (each call a write(2))`);
    console.log(`ratio trackCommand/bare write: p50 ${(tracked.p50 / written.p50).toFixed(2)} (batched; a write queued in the stream), ` +
      `${(tracked.p50 / single.p50).toFixed(2)} (one write(2) per call); amortized ${(tracked.amortized / written.amortized).toFixed(2)}`);
    console.log(`delivered ${stats.delivered}, spooled ${stats.spooled}, dropped ${stats.dropped}, flush ${flushed ? 'ok' : 'late'}`);
    client.close();
  } finally {
    await agent.stop();
  }
}

main().catch((error) => { console.error(error); process.exit(1); });
