// The same one-command CLI, recording the command with telemetry-kit (exit.js). Its `exit` report
// is registered after the client's, so it includes the client's work at exit (the spool append).
'use strict';
const t0 = process.hrtime.bigint();
const path = require('path');
// BENCH_CLIENT: another build of the client to load instead (an A/B of two builds in one run).
const { Client } = require(process.env.BENCH_CLIENT || path.join(__dirname, '..', '..', 'client', 'node'));
const telemetry = new Client({ tool: 'bench-exit', version: '1.0.0', consentMode: 'opt-out', localOnly: true });
const command = process.argv[2] || 'build';
process.stdout.write(`${command}: done\n`);
telemetry.trackCommand(command).success(true).duration(Number(process.hrtime.bigint() - t0) / 1e6);
if (process.env.BENCH_REPORT) process.on('exit', () => { const cpu = process.cpuUsage(); process.stderr.write(`${Number(process.hrtime.bigint() - t0) / 1e6} ${(cpu.user + cpu.system) / 1000}\n`); });
