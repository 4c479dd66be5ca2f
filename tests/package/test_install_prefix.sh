#!/usr/bin/env bash
# `cmake --install` into a prefix with a blank and a '%' in it: the service files the install rules
# render (cmake/TkRenderServiceFile.cmake) must quote the agent's path exactly as `tk service
# install` does (client/tk/service.cpp) — the two are written in different languages — and systemd
# must accept the result.
#
#   test_install_prefix.sh <build dir>
set -euo pipefail

build_dir=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-prefix-test.XXXXXX")
# `cmake --install` rewrites the build dir's install_manifest.txt; put back whatever was there.
manifest="$build_dir/install_manifest.txt"
if [ -f "$manifest" ]; then cp -p "$manifest" "$tmp/install_manifest.txt.saved"; fi
cleanup() {
  local rc=$?
  if [ -f "$tmp/install_manifest.txt.saved" ]; then cp -p "$tmp/install_manifest.txt.saved" "$manifest"; else rm -f "$manifest"; fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

prefix="$tmp/odd prefix%1"
cmake --install "$build_dir" --prefix "$prefix" > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
units="$prefix/lib/systemd/user"
plist="$prefix/share/telemetry-kit/launchd/dev.telemetry-kit.agent.plist"
agent="$prefix/bin/tk-agent"
[ -x "$agent" ] || fail "$agent was not installed"

# systemd: '%' doubled (a specifier otherwise), the path double-quoted for its blank.
expected="ExecStart=\"${agent//%/%%}\""
installed=$(grep '^ExecStart=' "$units/telemetry-kit-agent.service")
[ "$installed" = "$expected" ] || fail "installed unit has '$installed', expected '$expected'"

# tk's own rendering of the same agent path gives the same line.
env=(env -i PATH=/usr/bin:/bin HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" XDG_CONFIG_HOME="$tmp/config"
     XDG_STATE_HOME="$tmp/state")
mkdir -p "$tmp/home" "$tmp/run" "$tmp/config"
chmod 0700 "$tmp/run"
"${env[@]}" "$prefix/bin/tk" service install --dry-run --platform systemd --agent "$agent" > "$tmp/tk-systemd.txt" \
  || fail "tk service install --dry-run failed"
from_tk=$(grep '^ExecStart=' "$tmp/tk-systemd.txt")
[ "$from_tk" = "$installed" ] || fail "tk writes '$from_tk' but the install rules wrote '$installed'"

# systemd parses the installed units, ExecStart= included (it checks the program is there).
"${env[@]}" systemd-analyze verify --user "$units/telemetry-kit-agent.socket" "$units/telemetry-kit-agent.service" \
  > "$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify --user rejected the units"; }
if [ -s "$tmp/verify.log" ]; then cat "$tmp/verify.log" >&2; fail "systemd-analyze verify --user warned"; fi

# launchd: the plist is well-formed and names the agent by the same path as tk's plist.
if command -v xmllint > /dev/null; then
  xpath='string(/plist/dict/key[.="ProgramArguments"]/following-sibling::array[1]/string[1])'
  from_install=$(xmllint --xpath "$xpath" "$plist") || fail "the installed plist is not well-formed"
  "${env[@]}" "$prefix/bin/tk" service install --dry-run --platform launchd --agent "$agent" > "$tmp/tk-launchd.txt" \
    || fail "tk service install --dry-run --platform launchd failed"
  sed -n '/^<?xml/,/^<\/plist>/p' "$tmp/tk-launchd.txt" > "$tmp/tk.plist"
  from_tk=$(xmllint --xpath "$xpath" "$tmp/tk.plist") || fail "tk's plist is not well-formed"
  [ "$from_install" = "$agent" ] || fail "installed plist runs '$from_install', expected '$agent'"
  [ "$from_tk" = "$agent" ] || fail "tk's plist runs '$from_tk', expected '$agent'"
fi
echo "ok: $expected"
