import type * as consent from './consent';
export { Client } from './fast';
export { EventBuilder } from './builder';
export type { ClientOptions, ConsentMode, Stats } from './client';
export type { Mode, Env } from './environment';
export { double, DoubleValue } from './value';
export type { AttributeValue, Attributes } from './value';
export type { Consent, ConsentOptions } from './consent';
/** Asks an opt-in tool's first-run question once (see consent.ts). */
export declare function askConsentOnce(options: consent.ConsentOptions): Promise<boolean | null>;
/** The tool's consent as the agent records it, or null if the agent does not answer. */
export declare function consentStatus(...args: Parameters<typeof consent.consentStatus>): ReturnType<typeof consent.consentStatus>;
/** Records the person's first-run answer with the agent. */
export declare function recordConsent(...args: Parameters<typeof consent.recordConsent>): ReturnType<typeof consent.recordConsent>;
