// telemetry-kit for Node.js: see README.md and docs/clients.md.
// Every module here costs a short-lived CLI start-up time, so what most runs never use is loaded on
// first use: the consent prompt, and the full client with its socket (fast.ts decides when).
import type * as consent from './consent';

export { Client } from './fast';
export { EventBuilder } from './builder';
export type { ClientOptions, ConsentMode, Stats } from './client';
export type { Mode, Env } from './environment';
export { double, DoubleValue } from './value';
export type { AttributeValue, Attributes } from './value';
export type { Consent, ConsentOptions } from './consent';

const lazyConsent = (): typeof consent => require('./consent') as typeof consent;

/** Asks an opt-in tool's first-run question once (see consent.ts). */
export function askConsentOnce(options: consent.ConsentOptions): Promise<boolean | null> {
  return lazyConsent().askConsentOnce(options);
}

/** The tool's consent as the agent records it, or null if the agent does not answer. */
export function consentStatus(...args: Parameters<typeof consent.consentStatus>): ReturnType<typeof consent.consentStatus> {
  return lazyConsent().consentStatus(...args);
}

/** Records the person's first-run answer with the agent. */
export function recordConsent(...args: Parameters<typeof consent.recordConsent>): ReturnType<typeof consent.recordConsent> {
  return lazyConsent().recordConsent(...args);
}
