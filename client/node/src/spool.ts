// Appends records to the spool file, synchronously (it also runs in the process's `exit` handler),
// by the lock-free protocol of docs/protocol.md §6: Node has no flock(), so after each write the
// client checks that the file is still the one named `spool`; if the agent renamed it meanwhile, the
// same records are appended again to the new spool (the agent keeps one copy per event id).

import * as fs from 'fs';
import * as path from 'path';
import { judgeDir } from './trust';

/** The spool stops growing here (the agent's import limit): further events are dropped. */
export const MAX_SPOOL_BYTES = 16 * 1024 * 1024;
/** Largest single write(): many records at once, never a partial one. */
const MAX_WRITE_BYTES = 256 * 1024;
const ATTEMPTS = 8;

export interface SpoolResult {
  spooled: number;
  dropped: number;
  /** Why nothing could be written (an untrusted dir or file), else ''. */
  problem: string;
}

const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const OPEN_FLAGS = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK;

function fileProblem(file: string, stat: fs.Stats, me: number): string {
  if (!stat.isFile()) return `${file} is not a regular file, not telemetry-kit's file`;
  if (stat.uid !== me) return `${file} belongs to user ${stat.uid}, not you`;
  if ((stat.mode & 0o022) !== 0) return `${file} can be written by other users`;
  return '';
}

/** Makes the state dir if missing (0700) and judges it. */
function prepareDir(stateDir: string, me: number): string {
  let stat = fs.statSync(stateDir, { throwIfNoEntry: false });
  if (stat === undefined) {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    stat = fs.statSync(stateDir);
  }
  return judgeDir(stateDir, stat, me);
}

/** One attempt: open, check, write what fits. Returns records written, or a problem. */
function writeOnce(file: string, records: Buffer[], me: number): { written: number; moved: boolean; problem: string } {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ELOOP: a symlink planted as the spool (O_NOFOLLOW); ENXIO: a FIFO with no reader.
    if (code === 'ELOOP' || code === 'ENXIO') return { written: 0, moved: false, problem: `${file} is not a regular file, not telemetry-kit's file` };
    return { written: 0, moved: false, problem: `cannot open ${file}: ${code ?? String(error)}` };
  }
  try {
    const opened = fs.fstatSync(fd);
    const problem = fileProblem(file, opened, me);
    if (problem !== '') return { written: 0, moved: false, problem };
    let size = opened.size;
    let written = 0;
    while (written < records.length) {
      // Whole records only, up to MAX_WRITE_BYTES per write(), never past MAX_SPOOL_BYTES.
      let bytes = 0;
      let count = 0;
      while (written + count < records.length) {
        const next = records[written + count].length;
        if (count > 0 && bytes + next > MAX_WRITE_BYTES) break;
        if (size + bytes + next > MAX_SPOOL_BYTES) break;
        bytes += next;
        ++count;
      }
      if (count === 0) break; // full
      const chunk = count === 1 ? records[written] : Buffer.concat(records.slice(written, written + count), bytes);
      if (fs.writeSync(fd, chunk) !== chunk.length) break; // a short write to a regular file: disk full
      size += bytes;
      written += count;
    }
    const named = fs.lstatSync(file, { throwIfNoEntry: false });
    const moved = named === undefined || named.ino !== opened.ino || named.dev !== opened.dev;
    return { written, moved, problem: '' };
  } finally {
    fs.closeSync(fd);
  }
}

/** Appends `records` (each one whole TKS1 record) to `<stateDir>/spool`. Never throws. */
export function appendToSpool(stateDir: string, records: Buffer[], me: number): SpoolResult {
  if (records.length === 0) return { spooled: 0, dropped: 0, problem: '' };
  const file = path.join(stateDir, 'spool');
  try {
    const dirProblem = prepareDir(stateDir, me);
    if (dirProblem !== '') return { spooled: 0, dropped: records.length, problem: dirProblem };
    for (let attempt = 0; attempt < ATTEMPTS; ++attempt) {
      const result = writeOnce(file, records, me);
      if (result.problem !== '') return { spooled: 0, dropped: records.length, problem: result.problem };
      // Renamed for import while we wrote: the agent may have read the file before our bytes
      // landed, so write them again to the new spool.
      if (!result.moved) return { spooled: result.written, dropped: records.length - result.written, problem: '' };
    }
    return { spooled: 0, dropped: records.length, problem: `the spool ${file} was replaced while writing to it, again and again` };
  } catch (error) {
    return { spooled: 0, dropped: records.length, problem: `cannot write ${file}: ${(error as Error).message}` };
  }
}
