#!/usr/bin/env node
// A small Commander.js CLI instrumented with telemetry-kit: each command run is recorded with its
// duration, outcome and the *names* of the options given (never their values).
//   npm install && node cli.js build --target release --force
//   TELEMETRY_KIT_DEBUG=1 node cli.js build      # prints the event instead of sending it
'use strict';

const { Command } = require('commander');
const { Client } = require('telemetry-kit');
const { instrumentCommander } = require('telemetry-kit/commander');

const telemetry = new Client({
  tool: 'node-commander-example',
  version: '1.0.0',
  consentMode: 'opt-out', // an example: a real tool asks first (askConsentOnce) or says so in its docs
  // endpoint: 'https://telemetry.example.com', ingestKey: 'tk_…',
});

const program = new Command('node-commander-example').description('telemetry-kit example (Commander.js)');
instrumentCommander(program, telemetry);

program.command('build')
  .description('pretend to build')
  .option('-t, --target <name>', 'what to build')
  .option('--force', 'build even if up to date')
  .action((options) => {
    process.stdout.write(`building ${options.target ?? 'everything'}${options.force ? ' (forced)' : ''}\n`);
  });

program.command('fail')
  .description('a command that throws (recorded as a failure)')
  .action(() => {
    throw new Error('this command always fails');
  });

program.parse();
