"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.DoubleValue = exports.double = exports.EventBuilder = exports.Client = void 0;
exports.askConsentOnce = askConsentOnce;
exports.consentStatus = consentStatus;
exports.recordConsent = recordConsent;
var client_1 = require("./client");
Object.defineProperty(exports, "Client", { enumerable: true, get: function () { return client_1.Client; } });
Object.defineProperty(exports, "EventBuilder", { enumerable: true, get: function () { return client_1.EventBuilder; } });
var wire_1 = require("./wire");
Object.defineProperty(exports, "double", { enumerable: true, get: function () { return wire_1.double; } });
Object.defineProperty(exports, "DoubleValue", { enumerable: true, get: function () { return wire_1.DoubleValue; } });
const lazyConsent = () => require('./consent');
/** Asks an opt-in tool's first-run question once (see consent.ts). */
function askConsentOnce(options) {
    return lazyConsent().askConsentOnce(options);
}
/** The tool's consent as the agent records it, or null if the agent does not answer. */
function consentStatus(...args) {
    return lazyConsent().consentStatus(...args);
}
/** Records the person's first-run answer with the agent. */
function recordConsent(...args) {
    return lazyConsent().recordConsent(...args);
}
