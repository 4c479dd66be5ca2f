#!/usr/bin/env bash
# dist/ is committed (so the package installs and tests offline): it must be what src/ compiles to.
# Exit 77 (skipped) without TypeScript installed (scripts/npm-setup.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -x "$here/node_modules/.bin/tsc" ] || { echo "TypeScript not installed: skipped"; exit 77; }
out="$(mktemp -d "${TMPDIR:-/tmp}/tk-node-dist-XXXXXX")"
trap 'rm -rf "$out"' EXIT
(cd "$here" && node_modules/.bin/tsc -p tsconfig.json --outDir "$out" && node scripts/bundle.js "$out")
diff -r "$out" "$here/dist" && echo "dist/ is current"
