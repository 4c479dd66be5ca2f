// A one-command CLI without telemetry (the baseline of exit.js). With BENCH_REPORT set it reports,
// at exit, the time from its first line to the process's `exit` event.
'use strict';
const t0 = process.hrtime.bigint();
const command = process.argv[2] || 'build';
process.stdout.write(`${command}: done\n`);
if (process.env.BENCH_REPORT) process.on('exit', () => { const cpu = process.cpuUsage(); process.stderr.write(`${Number(process.hrtime.bigint() - t0) / 1e6} ${(cpu.user + cpu.system) / 1000}\n`); });
