#!/usr/bin/env bash
# The published shape (issue 12): `npm pack` makes a tarball that installs into an empty project
# without the network (no runtime dependencies) and works there: require() of the package and its
# integrations, a recorded event (printed in debug mode), and — if TypeScript is installed — a
# TypeScript consumer type-checks against the shipped .d.ts files.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tk-node-pack-XXXXXX")"
trap 'rm -rf "$work"' EXIT
export npm_config_cache="$work/npm-cache"   # never the real home's cache
cd "$work"
tarball="$(cd "$here" && npm pack --silent --pack-destination "$work" | tail -1)"
echo "packed $tarball: $(tar -tzf "$tarball" | wc -l) files"
if tar -tzf "$tarball" | grep -E '^package/(src|test|node_modules|conformance)/' ; then
  echo "FAIL: the tarball carries sources, tests or node_modules"; exit 1
fi
mkdir consumer && cd consumer
echo '{"name":"consumer","version":"1.0.0","private":true}' > package.json
npm install --offline --no-audit --no-fund --loglevel=error "$work/$tarball"
node -e "const p=require('./node_modules/telemetry-kit/package.json'); if (p.dependencies && Object.keys(p.dependencies).length) { console.error('FAIL: runtime dependencies', p.dependencies); process.exit(1); }"
out="$(TELEMETRY_KIT_DEBUG=1 TELEMETRY_KIT_HOME="$work/home" TELEMETRY_KIT_SOCKET="$work/run/agent.sock" node -e "
const { Client } = require('telemetry-kit');
const { instrumentCommander } = require('telemetry-kit/commander');
const { telemetryMiddleware } = require('telemetry-kit/yargs');
if (typeof instrumentCommander !== 'function' || typeof telemetryMiddleware !== 'function') process.exit(3);
const client = new Client({ tool: 'consumer', version: '1.0.0' });
client.trackCommand('build', { target: 'release' }).success(true);
" 2>&1)"
echo "$out"
echo "$out" | grep -q '"tool":"consumer","tool_version":"1.0.0","kind":"command","name":"build"' || { echo "FAIL: no debug line"; exit 1; }
if [ -x "$here/node_modules/.bin/tsc" ]; then
  cat > consumer.ts <<'TS'
import { Client, double, type Stats } from 'telemetry-kit';
import { instrumentCommander } from 'telemetry-kit/commander';
const client = new Client({ tool: 'consumer', version: '1.0.0', consentMode: 'opt-out' });
client.trackCommand('build', { jobs: 4, ratio: double(1), ok: true }).success(true).duration(12).exitCode(0);
const stats: Stats = client.stats();
void stats; void instrumentCommander; void client.flush(100);
TS
  "$here/node_modules/.bin/tsc" --noEmit --strict --module commonjs --moduleResolution node16 --module node16 \
    --types node --typeRoots "$here/node_modules/@types" consumer.ts
  echo "TypeScript consumer type-checks"
fi
echo "ok"
