#!/usr/bin/env node
// The Node client's conformance tool (tests/conformance/SCENARIOS.md, "The conformance tool"):
// `node tool.js <scenario>` records the scenario's events with the public API of the package and
// prints one JSON line with the client's stats.
'use strict';

const { Client, double } = require('..');

const SCENARIOS = new Set(['fields', 'do_not_track', 'tool_disabled', 'do_not_track_zero', 'debug', 'spool_import',
  'agent_stalled', 'impostor_socket', 'ci_tagged', 'ci_dropped', 'thousand_events']);

function recordFourEvents(client) {
  client.trackCommand('build', {
    target: 'release', jobs: 8, ratio: 0.25, cached: true, empty: '', negative: -42, big: 1099511627776,
  }).success(true).durationUs(1500).exitCode(0);
  client.trackCommand('test').success(false).durationUs(250000).exitCode(3);
  client.trackFeature('cache.remote', { hit: false, zero: 0 });
  client.track('custom.thing', { text: 'héllo ✓ 日本', pi: double(3.5) });
}

async function main() {
  const scenario = process.argv[2];
  if (!SCENARIOS.has(scenario)) {
    process.stderr.write('usage: tool.js <scenario> (see tests/conformance/SCENARIOS.md)\n');
    process.exitCode = 2;
    return;
  }
  const client = new Client({
    tool: 'conformance', version: '1.0.0', endpoint: 'http://127.0.0.1:9', ingestKey: 'conformance-key',
    consentMode: 'opt-out', localOnly: true, allowCi: scenario === 'ci_tagged',
  });
  let flushed = null;
  if (scenario === 'thousand_events') {
    for (let i = 0; i < 1000; i++) client.trackFeature('bulk', { i });
    flushed = await client.flush(10000);
  } else {
    recordFourEvents(client);
    if (scenario !== 'agent_stalled') flushed = await client.flush(5000);
  }
  // Builders are recorded at the end of the synchronous run: let that happen before reading stats.
  await Promise.resolve();
  const stats = client.stats();
  process.stdout.write(JSON.stringify({
    client: 'node', scenario, mode: client.mode, tracked: stats.tracked, delivered: stats.delivered,
    spooled: stats.spooled, dropped: stats.dropped, suppressed: stats.suppressed, flushed,
    // The last statement's time: the harness measures the client's exit delay from here.
    finished_unix_us: Math.round((performance.timeOrigin + performance.now()) * 1000),
  }) + '\n');
}

main();
