// telemetry-kit for Node.js: see README.md and docs/clients.md.
export { Client, EventBuilder } from './client';
export type { ClientOptions, ConsentMode, Stats } from './client';
export type { Mode, Env } from './environment';
export { double, DoubleValue } from './wire';
export type { AttributeValue, Attributes } from './wire';
export { askConsentOnce, consentStatus, recordConsent } from './consent';
export type { Consent, ConsentOptions } from './consent';
