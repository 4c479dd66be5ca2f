#!/usr/bin/env node
// A small yargs CLI instrumented with telemetry-kit's middleware: the command run is recorded with
// its duration, outcome (the exit code) and the *names* of the options given (never their values).
//   npm install && node cli.js build --target release --force
//   TELEMETRY_KIT_DEBUG=1 node cli.js build      # prints the event instead of sending it
'use strict';

const yargs = require('yargs/yargs');
const { hideBin } = require('yargs/helpers');
const { Client } = require('telemetry-kit');
const { telemetryMiddleware } = require('telemetry-kit/yargs');

const telemetry = new Client({
  tool: 'node-yargs-example',
  version: '1.0.0',
  consentMode: 'opt-out', // an example: a real tool asks first (askConsentOnce) or says so in its docs
});

yargs(hideBin(process.argv))
  .scriptName('node-yargs-example')
  .middleware(telemetryMiddleware(telemetry))
  .command('build', 'pretend to build', (y) => y
    .option('target', { alias: 't', type: 'string', describe: 'what to build' })
    .option('force', { type: 'boolean', default: false, describe: 'build even if up to date' }),
  (argv) => {
    process.stdout.write(`building ${argv.target ?? 'everything'}${argv.force ? ' (forced)' : ''}\n`);
  })
  .command('fail', 'a command that throws (recorded as a failure)', () => {}, () => {
    throw new Error('this command always fails');
  })
  .demandCommand(1)
  .strict()
  .parse();
