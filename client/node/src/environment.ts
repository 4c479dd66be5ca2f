// What the client does, decided once from the environment before any I/O (docs/protocol.md §1).
// Pure functions of an environment object, so tests need not touch process.env.

import type { Signals } from './wire';

export type Env = Record<string, string | undefined>;

/** What the client does with events. */
export type Mode = 'sending' | 'debug' | 'disabled';

/** The CI variables whose presence marks a CI run (common/include/tk/common/ci.hpp, same order). */
export const CI_VARIABLES: readonly string[] = [
  'CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI',
  'TRAVIS', 'JENKINS_URL', 'BUILDKITE', 'TEAMCITY_VERSION', 'TF_BUILD', 'APPVEYOR', 'CODEBUILD_BUILD_ID',
  'BITBUCKET_BUILD_NUMBER', 'DRONE', 'SEMAPHORE', 'HEROKU_TEST_RUN_ID',
];

/** `my-cli` → `MY_CLI_TELEMETRY_DISABLED`: upper-cased, every byte but ASCII letters and digits → `_`. */
export function toolDisabledVariable(tool: string): string {
  let name = '';
  for (const byte of Buffer.from(tool, 'utf8')) {
    const c = String.fromCharCode(byte);
    name += /[A-Za-z0-9]/.test(c) ? c.toUpperCase() : '_';
  }
  return `${name}_TELEMETRY_DISABLED`;
}

/** A switch is on when set to anything but empty, `0` or `false` (any case). */
export function truthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** The raw opt-out signals the agent receives (it decides again). */
export function readSignals(env: Env, tool: string): Signals {
  return {
    doNotTrack: env.DO_NOT_TRACK,
    toolDisabled: env[toolDisabledVariable(tool)],
    ciMarkers: CI_VARIABLES.filter((name) => env[name] !== undefined),
  };
}

export function inCi(env: Env): boolean {
  return CI_VARIABLES.some((name) => env[name] !== undefined);
}

/** Tool names the agent accepts: 1–64 bytes of `A-Z a-z 0-9 . _ -`. */
export function validToolName(tool: string): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(tool);
}

/** The mode: debug wins (a person debugging sees what would be sent), then the opt-outs. */
export function decideMode(env: Env, tool: string, platform: string = process.platform): Mode {
  if (!validToolName(tool)) return 'disabled';
  if (truthy(env.TELEMETRY_KIT_DEBUG)) return 'debug';
  if (truthy(env.DO_NOT_TRACK) || truthy(env[toolDisabledVariable(tool)])) return 'disabled';
  if (platform === 'win32') return 'disabled'; // no Unix socket agent there yet
  return 'sending';
}
