// The floor under exit.js's figure: the same one-command CLI doing only the unavoidable work of
// handing one event over with no client code at all — read the opt-out variables, draw 16 random
// bytes, and at exit append one ~60-byte record with a CRC-32 to a file with the spool's system
// calls (stat the dir, open O_APPEND|O_NOFOLLOW, fstat, write, lstat, close). What a client adds
// beyond this is its own code: loading, compiling and running it. The file is BENCH_FLOOR_FILE.
'use strict';
const t0 = process.hrtime.bigint();
const command = process.argv[2] || 'build';
process.stdout.write(`${command}: done\n`);
const env = process.env;
const on = (v) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
if (!on(env.TELEMETRY_KIT_DEBUG) && !on(env.DO_NOT_TRACK) && !on(env.BENCH_EXIT_TELEMETRY_DISABLED) && env.BENCH_FLOOR_FILE) {
  const fs = require('fs');
  const file = env.BENCH_FLOOR_FILE;
  const record = Buffer.allocUnsafe(128);
  const random = fs.openSync('/dev/urandom', 'r');
  fs.readSync(random, record, 0, 16, null);
  fs.closeSync(random);
  let size = 16 + record.write(`bench-exit 1.0.0 ${command} ${Date.now()}`, 16, 'latin1');
  process.on('exit', () => {
    fs.statSync(require('path').dirname(file));
    let crc = -1;
    for (let i = 0; i < size; i++) {
      crc ^= record[i];
      for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
    }
    record.writeUInt32BE(~crc >>> 0, size);
    size += 4;
    const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants;
    const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
    fs.fstatSync(fd);
    fs.writeSync(fd, record, 0, size);
    fs.lstatSync(file);
    fs.closeSync(fd);
  });
}
if (env.BENCH_REPORT) process.on('exit', () => { const cpu = process.cpuUsage(); process.stderr.write(`${Number(process.hrtime.bigint() - t0) / 1e6} ${(cpu.user + cpu.system) / 1000}\n`); });
