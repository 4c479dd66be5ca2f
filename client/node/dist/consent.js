"use strict";
// First-run consent for opt-in tools (the C++ client's telemetry_kit/consent.hpp, in Node): ask the
// person once, on a terminal only and never in CI, and record the answer with the agent, whose
// per-tool consent is the record of "asked before".
Object.defineProperty(exports, "__esModule", { value: true });
exports.consentStatus = consentStatus;
exports.recordConsent = recordConsent;
exports.mayAsk = mayAsk;
exports.askConsentOnce = askConsentOnce;
const os = require("os");
const environment_1 = require("./environment");
const paths_1 = require("./paths");
const trust_1 = require("./trust");
const wire_1 = require("./wire");
const CONSENT_NAMES = ['unset', 'granted', 'denied'];
/** One control request to the agent (trust-checked socket); resolves null if it does not answer. */
function agentRequest(frame, env, timeoutMs) {
    return new Promise((resolve) => {
        const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : os.homedir();
        const paths = (0, paths_1.resolvePaths)(env, process.getuid?.() ?? 0, home);
        if (!(0, trust_1.checkSocket)(paths.socket, process.geteuid?.() ?? 0).ok)
            return resolve(null);
        let buffer = Buffer.alloc(0);
        const socket = require('net').createConnection({ path: paths.socket });
        const done = (reply) => {
            clearTimeout(timer);
            socket.destroy();
            resolve(reply);
        };
        const timer = setTimeout(() => done(null), timeoutMs);
        socket.on('error', () => done(null));
        socket.on('data', (chunk) => {
            buffer = Buffer.concat([buffer, chunk]);
            if (buffer.length < 4)
                return;
            const length = buffer.readUInt32BE(0);
            if (length > 1024 * 1024)
                return done(null);
            if (buffer.length >= 4 + length)
                done((0, wire_1.decodeReply)(buffer, 4, 4 + length));
        });
        socket.write(frame);
    });
}
/** The tool's consent as the agent records it, or null if the agent does not answer. */
async function consentStatus(tool, options = {}) {
    const reply = await agentRequest((0, wire_1.consentRequestFrame)(1, 0 /* ConsentAction.status */, tool), options.env ?? process.env, options.timeoutMs ?? 2000);
    if (reply === null || reply.type !== 'control' || reply.error !== '' || reply.consent === undefined)
        return null;
    return CONSENT_NAMES[reply.consent.tools.get(tool) ?? 0] ?? 'unset';
}
/** Records the person's first-run answer (the agent accepts it only while the tool's consent is
 *  unset). True if the agent recorded it. */
async function recordConsent(tool, granted, options = {}) {
    const action = granted ? 1 /* ConsentAction.grant */ : 2 /* ConsentAction.deny */;
    const reply = await agentRequest((0, wire_1.consentRequestFrame)(1, action, tool), options.env ?? process.env, options.timeoutMs ?? 2000);
    return reply !== null && reply.type === 'control' && reply.error === '';
}
/** Whether asking is allowed at all: a terminal on both ends, no CI, no opt-out. */
function mayAsk(env, tool, input, output) {
    return input.isTTY === true && output.isTTY === true && !(0, environment_1.inCi)(env) && (0, environment_1.decideMode)(env, tool) === 'sending';
}
/** Asks once (see the module comment). Resolves the recorded answer, or null when it did not ask
 *  (no terminal, CI, opted out, no agent, already answered) or got no answer in time. */
async function askConsentOnce(options) {
    const env = options.env ?? process.env;
    const input = options.input ?? process.stdin;
    const output = options.output ?? process.stderr;
    if (!mayAsk(env, options.tool, input, output))
        return null;
    const status = await consentStatus(options.tool, { env, timeoutMs: options.agentTimeoutMs });
    if (status !== 'unset')
        return null; // no agent to keep the answer, or the person already chose
    const where = options.endpoint ? options.endpoint : 'this machine only';
    const question = options.question ??
        `${options.tool} would like to send anonymous usage data (which commands and features are used, ` +
            `the tool's version, OS family and CPU architecture; nothing that identifies you) to ${where}. ` +
            'Allow? [y/N] ';
    const answer = await prompt(question, input, output, options.answerTimeoutMs ?? 120_000);
    if (answer === null)
        return null;
    const granted = /^(y|yes)$/i.test(answer.trim());
    if (!(await recordConsent(options.tool, granted, { env, timeoutMs: options.agentTimeoutMs })))
        return null;
    output.write(`Recorded. Change it any time: tk consent ${granted ? 'deny' : 'grant'} ${options.tool}\n`);
    return granted;
}
function prompt(question, input, output, timeoutMs) {
    return new Promise((resolve) => {
        // Loaded here, not at import: most runs never ask, and every module costs start-up time.
        const readline = require('readline');
        const rl = readline.createInterface({ input, output, terminal: false });
        const timer = setTimeout(() => finish(null), timeoutMs);
        let finished = false;
        function finish(answer) {
            if (finished)
                return;
            finished = true;
            clearTimeout(timer);
            rl.close();
            resolve(answer);
        }
        rl.on('close', () => finish(null));
        rl.question(question, (answer) => finish(answer));
    });
}
