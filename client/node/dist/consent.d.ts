import { type Env } from './environment';
/** Consent of agent.proto. */
export type Consent = 'unset' | 'granted' | 'denied';
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
    input?: NodeJS.ReadableStream & {
        isTTY?: boolean;
    };
    output?: NodeJS.WritableStream & {
        isTTY?: boolean;
    };
}
/** Framed ClientFrame{control{request_id, manifest{tool}}} (as `tk manifest` asks). */
export declare function manifestRequestFrame(requestId: number, tool: string): Buffer;
/** The short form of the tool's manifest (ManifestResponse.summary) from an AgentReply payload;
 *  '' if the agent enforces none for the tool, refused, or answered something else. */
export declare function decodeManifestSummary(payload: Buffer, start: number, end: number, requestId: number): string;
/** The short form of the manifest the agent enforces for the tool (what the consent question
 *  shows), or '' if it enforces none or does not answer. */
export declare function manifestSummary(tool: string, options?: {
    env?: Env;
    timeoutMs?: number;
}): Promise<string>;
/** The question, worded as the C++ client's. */
export declare function consentQuestion(tool: string, endpoint: string | undefined, whatIsCollected: string): string;
/** The tool's consent as the agent records it, or null if the agent does not answer. */
export declare function consentStatus(tool: string, options?: {
    env?: Env;
    timeoutMs?: number;
}): Promise<Consent | null>;
/** Records the person's first-run answer (the agent accepts it only while the tool's consent is
 *  unset). True if the agent recorded it. */
export declare function recordConsent(tool: string, granted: boolean, options?: {
    env?: Env;
    timeoutMs?: number;
}): Promise<boolean>;
/** Whether asking is allowed at all: a terminal on both ends, no CI, no opt-out. */
export declare function mayAsk(env: Env, tool: string, input: {
    isTTY?: boolean;
}, output: {
    isTTY?: boolean;
}): boolean;
/** Asks once (see the module comment). Resolves the recorded answer, or null when it did not ask
 *  (no terminal, CI, opted out, no agent, already answered) or got no answer in time. */
export declare function askConsentOnce(options: ConsentOptions): Promise<boolean | null>;
