// First-run consent for opt-in tools (the C++ client's telemetry_kit/consent.hpp, in Node): ask the
// person once, on a terminal only and never in CI, and record the answer with the agent, whose
// per-tool consent is the record of "asked before".

import type * as net from 'net';
import * as os from 'os';
import { decideMode, inCi, type Env } from './environment';
import { resolvePaths } from './paths';
import { checkSocket } from './trust';
import { ConsentAction, consentRequestFrame, decodeReply, Writer } from './wire';

/** Consent of agent.proto. */
export type Consent = 'unset' | 'granted' | 'denied';
const CONSENT_NAMES: Consent[] = ['unset', 'granted', 'denied'];

export interface ConsentOptions {
  tool: string;
  /** Where events go, named in the question (default: "this machine only"). */
  endpoint?: string;
  /** Replaces the default question. */
  question?: string;
  /** What is collected, in one sentence (default: command and feature events). The manifest's
   *  short form, if the agent enforces one for the tool, wins. */
  whatIsCollected?: string;
  /** How long to wait for the person (default 2 minutes; no answer records nothing). */
  answerTimeoutMs?: number;
  /** How long to wait for the agent (default 2 s). */
  agentTimeoutMs?: number;
  env?: Env;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** One control request to the agent (trust-checked socket); resolves the reply's payload
 *  (decoded by `decode`), or null if it does not answer. */
function agentRequest<T>(frame: Buffer, env: Env, timeoutMs: number,
  decode: (payload: Buffer, start: number, end: number) => T | null): Promise<T | null> {
  return new Promise((resolve) => {
    const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : os.homedir();
    const paths = resolvePaths(env, process.getuid?.() ?? 0, home);
    if (!checkSocket(paths.socket, process.geteuid?.() ?? 0).ok) return resolve(null);
    let buffer = Buffer.alloc(0);
    const socket = (require('net') as typeof net).createConnection({ path: paths.socket });
    const done = (reply: T | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 4) return;
      const length = buffer.readUInt32BE(0);
      if (length > 1024 * 1024) return done(null);
      if (buffer.length >= 4 + length) done(decode(buffer, 4, 4 + length));
    });
    socket.write(frame);
  });
}

/** Framed ClientFrame{control{request_id, manifest{tool}}} (as `tk manifest` asks). */
export function manifestRequestFrame(requestId: number, tool: string): Buffer {
  const w = new Writer(64);
  const control = w.begin(4);
  w.uintField(1, requestId);
  const manifest = w.begin(17);
  w.stringField(1, tool);
  w.end(manifest);
  w.end(control);
  const payload = w.take();
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/** The fields of protobuf bytes [start, end): number, wire type, and the varint or the bytes. */
function* protoFields(buf: Buffer, start: number, end: number): Generator<[number, number, number, Buffer]> {
  let pos = start;
  const varint = (): number => {
    let value = 0;
    for (let scale = 1, i = 0; i < 10; i++, scale *= 0x80) {
      if (pos >= end) throw new Error('truncated varint');
      const b = buf[pos++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
    }
    throw new Error('varint too long');
  };
  while (pos < end) {
    const key = varint();
    const type = key & 7;
    if (type === 0) {
      yield [Math.floor(key / 8), type, varint(), Buffer.alloc(0)];
    } else if (type === 2) {
      const size = varint();
      if (size > end - pos) throw new Error('truncated field');
      pos += size;
      yield [Math.floor(key / 8), type, 0, buf.subarray(pos - size, pos)];
    } else {
      throw new Error('unexpected wire type');
    }
  }
}

/** The short form of the tool's manifest (ManifestResponse.summary) from an AgentReply payload;
 *  '' if the agent enforces none for the tool, refused, or answered something else. */
export function decodeManifestSummary(payload: Buffer, start: number, end: number, requestId: number): string {
  try {
    for (const [field, type, , control] of protoFields(payload, start, end)) {
      if (field !== 2 || type !== 2) return ''; // a FlushAck or an ErrorReply
      let answered = 0;
      let refused = false;
      let response: Buffer = Buffer.alloc(0);
      for (const [f, t, value, bytes] of protoFields(control, 0, control.length)) {
        if (f === 1 && t === 0) answered = value;
        else if (f === 2 && t === 2) refused = bytes.length > 0;
        else if (f === 17 && t === 2) response = bytes;
      }
      if (answered !== requestId || refused) return '';
      let known = false;
      let summary = '';
      for (const [f, t, value, bytes] of protoFields(response, 0, response.length)) {
        if (f === 1 && t === 0) known = value !== 0;
        else if (f === 4 && t === 2) summary = bytes.toString('utf8');
      }
      return known ? summary : '';
    }
  } catch {
    // malformed: as if there were none
  }
  return '';
}

/** The short form of the manifest the agent enforces for the tool (what the consent question
 *  shows), or '' if it enforces none or does not answer. */
export async function manifestSummary(tool: string, options: { env?: Env; timeoutMs?: number } = {}): Promise<string> {
  const summary = await agentRequest(manifestRequestFrame(1, tool), options.env ?? process.env, options.timeoutMs ?? 2000,
    (payload, start, end) => decodeManifestSummary(payload, start, end, 1));
  return summary ?? '';
}

const DEFAULT_WHAT = "which commands and features you use, how long they take, whether they succeed, and the tool's version";

/** The question, worded as the C++ client's. */
export function consentQuestion(tool: string, endpoint: string | undefined, whatIsCollected: string): string {
  const destination = endpoint ? `sent to ${endpoint}` : 'kept on this machine';
  return `${tool} would like to collect anonymous usage statistics: ${whatIsCollected || DEFAULT_WHAT}, ${destination}. ` +
    'Nothing identifies you.\nAllow? [y/N] ';
}

/** The tool's consent as the agent records it, or null if the agent does not answer. */
export async function consentStatus(tool: string, options: { env?: Env; timeoutMs?: number } = {}): Promise<Consent | null> {
  const reply = await agentRequest(consentRequestFrame(1, ConsentAction.status, tool), options.env ?? process.env,
    options.timeoutMs ?? 2000, decodeReply);
  if (reply === null || reply.type !== 'control' || reply.error !== '' || reply.consent === undefined) return null;
  return CONSENT_NAMES[reply.consent.tools.get(tool) ?? 0] ?? 'unset';
}

/** Records the person's first-run answer (the agent accepts it only while the tool's consent is
 *  unset). True if the agent recorded it. */
export async function recordConsent(tool: string, granted: boolean, options: { env?: Env; timeoutMs?: number } = {}): Promise<boolean> {
  const action = granted ? ConsentAction.grant : ConsentAction.deny;
  const reply = await agentRequest(consentRequestFrame(1, action, tool), options.env ?? process.env, options.timeoutMs ?? 2000,
    decodeReply);
  return reply !== null && reply.type === 'control' && reply.error === '';
}

/** Whether asking is allowed at all: a terminal on both ends, no CI, no opt-out. */
export function mayAsk(env: Env, tool: string, input: { isTTY?: boolean }, output: { isTTY?: boolean }): boolean {
  return input.isTTY === true && output.isTTY === true && !inCi(env) && decideMode(env, tool) === 'sending';
}

/** Asks once (see the module comment). Resolves the recorded answer, or null when it did not ask
 *  (no terminal, CI, opted out, no agent, already answered) or got no answer in time. */
export async function askConsentOnce(options: ConsentOptions): Promise<boolean | null> {
  const env = options.env ?? process.env;
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stderr;
  if (!mayAsk(env, options.tool, input, output)) return null;
  const status = await consentStatus(options.tool, { env, timeoutMs: options.agentTimeoutMs });
  if (status !== 'unset') return null; // no agent to keep the answer, or the person already chose
  // The tool's published manifest, which the agent enforces, says it best; else the tool's words.
  const what = (await manifestSummary(options.tool, { env, timeoutMs: options.agentTimeoutMs })) || options.whatIsCollected || '';
  const question = options.question ?? consentQuestion(options.tool, options.endpoint, what);
  const answer = await prompt(question, input, output, options.answerTimeoutMs ?? 120_000);
  if (answer === null) return null;
  const granted = /^(y|yes)$/i.test(answer.trim());
  if (!(await recordConsent(options.tool, granted, { env, timeoutMs: options.agentTimeoutMs }))) return null;
  output.write(`${granted ? 'Thank you: usage statistics are on.' : 'Usage statistics are off.'} ` +
    `Change this any time with \`tk consent ${granted ? 'deny' : 'grant'} ${options.tool}\`.\n`);
  return granted;
}

function prompt(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    // Loaded here, not at import: most runs never ask, and every module costs start-up time.
    const readline = require('readline') as typeof import('readline');
    const rl = readline.createInterface({ input, output, terminal: false });
    const timer = setTimeout(() => finish(null), timeoutMs);
    let finished = false;
    function finish(answer: string | null): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      rl.close();
      resolve(answer);
    }
    rl.on('close', () => finish(null));
    rl.question(question, (answer) => finish(answer));
  });
}
