"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.DoubleValue = exports.double = exports.EventBuilder = exports.Client = void 0;
exports.askConsentOnce = askConsentOnce;
exports.consentStatus = consentStatus;
exports.recordConsent = recordConsent;
var fast_1 = require("./fast");
Object.defineProperty(exports, "Client", { enumerable: true, get: function () { return fast_1.Client; } });
var builder_1 = require("./builder");
Object.defineProperty(exports, "EventBuilder", { enumerable: true, get: function () { return builder_1.EventBuilder; } });
var value_1 = require("./value");
Object.defineProperty(exports, "double", { enumerable: true, get: function () { return value_1.double; } });
Object.defineProperty(exports, "DoubleValue", { enumerable: true, get: function () { return value_1.DoubleValue; } });
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
