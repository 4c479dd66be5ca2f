"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.recordConsent = exports.consentStatus = exports.askConsentOnce = exports.DoubleValue = exports.double = exports.EventBuilder = exports.Client = void 0;
// telemetry-kit for Node.js: see README.md and docs/clients.md.
var client_1 = require("./client");
Object.defineProperty(exports, "Client", { enumerable: true, get: function () { return client_1.Client; } });
Object.defineProperty(exports, "EventBuilder", { enumerable: true, get: function () { return client_1.EventBuilder; } });
var wire_1 = require("./wire");
Object.defineProperty(exports, "double", { enumerable: true, get: function () { return wire_1.double; } });
Object.defineProperty(exports, "DoubleValue", { enumerable: true, get: function () { return wire_1.DoubleValue; } });
var consent_1 = require("./consent");
Object.defineProperty(exports, "askConsentOnce", { enumerable: true, get: function () { return consent_1.askConsentOnce; } });
Object.defineProperty(exports, "consentStatus", { enumerable: true, get: function () { return consent_1.consentStatus; } });
Object.defineProperty(exports, "recordConsent", { enumerable: true, get: function () { return consent_1.recordConsent; } });
