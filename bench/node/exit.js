#!/usr/bin/env node
// How much later a Node CLI that records one command exits than the same CLI without telemetry
// (issue 12: <= 5 ms), next to the time Node itself needs to start (`node -e 0`) and next to the
// floor: the same CLI handing one event over with no client code (cli-floor.js: one synchronous
// append at exit with the spool's system calls).
//   node bench/node/exit.js [runs=40]      (needs build/daemon/tk-agent, or TK_AGENT_BINARY)
// Each run is a fresh process timed from spawn to exit; the variants alternate so machine noise
// hits all alike. Reported: medians, and the median of the per-round differences.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { median, startAgent } = require('./common');

const RUNS = Number(process.argv[2] || 40);

/** [wall ms from spawn to exit, ms from the script's first line to its `exit` event, CPU ms of the
 *  whole process (user + system; NaN for node -e 0)]. */
function time(args, env) {
  const t0 = process.hrtime.bigint();
  // stdout is a pipe, as a CLI's output is (a terminal or a pipe): Node then has `net` loaded for
  // it already, as it has in real use. (With stdout at /dev/null it would not, and the client's
  // first connection would pay for loading it.)
  const result = spawnSync(process.execPath, args, { env: { ...env, BENCH_REPORT: '1' }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  const [script = NaN, cpu = NaN] = (result.stderr.trim().split('\n').pop() || '').split(' ').map(Number.parseFloat);
  return [ms, script, cpu];
}

async function main() {
  const agent = await startAgent();
  const absentEnv = { ...agent.env, TELEMETRY_KIT_SOCKET: path.join(agent.root, 'run', 'nobody-here.sock'),
    TELEMETRY_KIT_HOME: path.join(agent.root, 'absent-home') };
  const variants = {
    'node -e 0': [['-e', '0'], agent.env],
    'CLI without telemetry': [[path.join(__dirname, 'cli-plain.js')], agent.env],
    'CLI + telemetry, agent up': [[path.join(__dirname, 'cli-telemetry.js')], agent.env],
    'CLI + telemetry, no agent (spool)': [[path.join(__dirname, 'cli-telemetry.js')], absentEnv],
    'floor: one append, no client code': [[path.join(__dirname, 'cli-floor.js')],
      { ...agent.env, BENCH_FLOOR_FILE: path.join(agent.root, 'floor-records') }],
  };
  const loadAtStart = os.loadavg()[0];
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const inside = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const cpus = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  try {
    for (const [args, env] of Object.values(variants)) time(args, env); // warm the page cache
    for (let round = 0; round < RUNS; round++) {
      for (const [name, [args, env]] of Object.entries(variants)) {
        const [wall, script, cpu] = time(args, env);
        samples[name].push(wall);
        inside[name].push(script);
        cpus[name].push(cpu);
      }
    }
    const spooled = fs.existsSync(path.join(agent.root, 'absent-home', 'spool'));
    const med = (name) => median(samples[name]);
    const paired = (a, b) => median(samples[a].map((v, i) => v - samples[b][i]));
    const script = (name) => median(inside[name]);
    const cpu = (name) => median(cpus[name]);
    const pairedCpu = (a, b) => median(cpus[a].map((v, i) => v - cpus[b][i]));
    const fmt = (v) => (Number.isNaN(v) ? '' : v.toFixed(2) + ' ms').padStart(10);
    console.log(`node ${process.version}, ${RUNS} rounds, each variant a fresh process; medians; ` +
      `load average ${loadAtStart.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end`);
    console.log(`${''.padEnd(36)} spawn→exit  first line→exit  process CPU`);
    for (const name of Object.keys(variants)) {
      console.log(`${name.padEnd(36)} ${med(name).toFixed(1).padStart(7)} ms  ${fmt(script(name))}      ${fmt(cpu(name))}`);
    }
    const plain = 'CLI without telemetry';
    for (const [label, name] of [['agent up', 'CLI + telemetry, agent up'], ['no agent', 'CLI + telemetry, no agent (spool)'],
      ['the floor', 'floor: one append, no client code']]) {
      console.log(`added by telemetry, ${label}: ${(script(name) - script(plain)).toFixed(2)} ms first line→exit, ` +
        `${paired(name, plain).toFixed(2)} ms spawn→exit (median of per-round differences), ` +
        `${(cpu(name) - cpu(plain)).toFixed(2)} ms CPU (median of per-round differences ${pairedCpu(name, plain).toFixed(2)} ms)`);
    }
    console.log(`spool written in the no-agent variant: ${spooled}`);
    console.log(`node start-up (node -e 0) for scale: ${med('node -e 0').toFixed(1)} ms`);
  } finally {
    await agent.stop();
  }
}

main().catch((error) => { console.error(error); process.exit(1); });
