"use strict";
// What the client does, decided once from the environment before any I/O (docs/protocol.md §1).
// Pure functions of an environment object, so tests need not touch process.env.
Object.defineProperty(exports, "__esModule", { value: true });
exports.CI_VARIABLES = void 0;
exports.toolDisabledVariable = toolDisabledVariable;
exports.truthy = truthy;
exports.readSignals = readSignals;
exports.inCi = inCi;
exports.validToolName = validToolName;
exports.decideMode = decideMode;
/** The CI variables whose presence marks a CI run (common/include/tk/common/ci.hpp, same order). */
exports.CI_VARIABLES = [
    'CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI',
    'TRAVIS', 'JENKINS_URL', 'BUILDKITE', 'TEAMCITY_VERSION', 'TF_BUILD', 'APPVEYOR', 'CODEBUILD_BUILD_ID',
    'BITBUCKET_BUILD_NUMBER', 'DRONE', 'SEMAPHORE', 'HEROKU_TEST_RUN_ID',
];
/** `my-cli` → `MY_CLI_TELEMETRY_DISABLED`: upper-cased, every byte but ASCII letters and digits → `_`. */
function toolDisabledVariable(tool) {
    let name = '';
    for (const byte of Buffer.from(tool, 'utf8')) {
        const c = String.fromCharCode(byte);
        name += /[A-Za-z0-9]/.test(c) ? c.toUpperCase() : '_';
    }
    return `${name}_TELEMETRY_DISABLED`;
}
/** A switch is on when set to anything but empty, `0` or `false` (any case). */
function truthy(value) {
    return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}
/** The raw opt-out signals the agent receives (it decides again). */
function readSignals(env, tool) {
    return {
        doNotTrack: env.DO_NOT_TRACK,
        toolDisabled: env[toolDisabledVariable(tool)],
        ciMarkers: exports.CI_VARIABLES.filter((name) => env[name] !== undefined),
    };
}
function inCi(env) {
    return exports.CI_VARIABLES.some((name) => env[name] !== undefined);
}
/** Tool names the agent accepts: 1–64 bytes of `A-Z a-z 0-9 . _ -`. */
function validToolName(tool) {
    return /^[A-Za-z0-9._-]{1,64}$/.test(tool);
}
/** The mode: debug wins (a person debugging sees what would be sent), then the opt-outs. */
function decideMode(env, tool, platform = process.platform) {
    if (!validToolName(tool))
        return 'disabled';
    if (truthy(env.TELEMETRY_KIT_DEBUG))
        return 'debug';
    if (truthy(env.DO_NOT_TRACK) || truthy(env[toolDisabledVariable(tool)]))
        return 'disabled';
    if (platform === 'win32')
        return 'disabled'; // no Unix socket agent there yet
    return 'sending';
}
