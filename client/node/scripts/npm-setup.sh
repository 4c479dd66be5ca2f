#!/usr/bin/env bash
# Installs the Node client's devDependencies (TypeScript, commander, yargs, for its tests) and the
# examples' dependencies from their committed package-lock.json files, where node_modules is missing
# or older than the lock file. Exit 77 (ctest: skipped) if npm cannot reach the registry: the tests
# that need these packages then skip themselves.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$here/../.." && pwd)"
status=0
for dir in "$here" "$repo/examples/node-commander" "$repo/examples/node-yargs"; do
  if [ -d "$dir/node_modules" ] && [ ! "$dir/node_modules/.package-lock.json" -ot "$dir/package-lock.json" ]; then
    continue
  fi
  echo "npm ci in $dir"
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then status=77; fi
done
exit $status
