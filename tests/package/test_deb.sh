#!/usr/bin/env bash
# The Debian package, end to end: build it with CPack, look inside, and — as root — install it,
# run what it installed, verify its systemd user units, and remove it again.
#
#   test_deb.sh <build dir> <cpack command> <project version>
#
# Without root, the checks of the .deb's contents still run and the test then SKIPs (exit 77) —
# it does not pass silently. It also skips, touching nothing, when telemetry-kit is already
# installed on this machine or its files are already in /usr (the test would replace and then
# remove them). Whatever happens, the package is removed and the temp dir deleted on exit.
set -euo pipefail

build_dir=$1
cpack=$2
version=$3
package=telemetry-kit
skip=77

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-package-test.XXXXXX")
installed_by_us=0
# CPack's install step rewrites the build dir's install_manifest.txt (with the package's paths);
# someone may need theirs from `cmake --install` to uninstall. Put it back afterwards.
manifest="$build_dir/install_manifest.txt"
if [ -f "$manifest" ]; then cp -p "$manifest" "$tmp/install_manifest.txt.saved"; fi
cleanup() {
  local rc=$?
  if [ -f "$tmp/install_manifest.txt.saved" ]; then
    cp -p "$tmp/install_manifest.txt.saved" "$manifest"
  else
    rm -f "$manifest"
  fi
  if [ "$installed_by_us" = 1 ] && dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null | grep -qv '^not-installed$'; then
    echo "cleanup: purging $package" >&2
    dpkg --purge "$package" >/dev/null 2>&1 || echo "cleanup: dpkg --purge $package failed; remove it by hand" >&2
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# --- Build the package, into the temp dir (CPack's staging dir goes there too).
step "cpack -G DEB"
(cd "$build_dir" && "$cpack" -G DEB -B "$tmp/out" --config "$build_dir/CPackConfig.cmake") > "$tmp/cpack.log" 2>&1 \
  || { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB failed"; }
arch=$(dpkg --print-architecture)
deb="$tmp/out/${package}_${version}_${arch}.deb"
[ -f "$deb" ] || { ls -l "$tmp/out" >&2; fail "expected $deb"; }
echo "built $(basename "$deb"): $(stat -c %s "$deb") bytes"

# --- What it contains.
step "dpkg-deb --contents"
dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' > "$tmp/contents"
for path in /usr/bin/tk /usr/bin/tk-agent /usr/bin/tk-collector \
            /usr/lib/systemd/user/telemetry-kit-agent.socket \
            /usr/lib/systemd/user/telemetry-kit-agent.service \
            /usr/share/telemetry-kit/launchd/dev.telemetry-kit.agent.plist; do
  grep -qx "$path" "$tmp/contents" || fail "$path is not in the package"
done
grep -q "^/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libtelemetry_kit\.so\." "$tmp/contents" \
  || fail "libtelemetry_kit.so.* is not in the package's multiarch library directory"
# Programs: exactly these three (no test, benchmark or example binaries).
programs=$(grep '^/usr/bin/.' "$tmp/contents" | sort | tr '\n' ' ')
[ "$programs" = "/usr/bin/tk /usr/bin/tk-agent /usr/bin/tk-collector " ] || fail "unexpected programs in /usr/bin: $programs"
if grep -Eiq 'test|bench|demo|catch2' "$tmp/contents"; then
  grep -Ei 'test|bench|demo|catch2' "$tmp/contents" >&2
  fail "test, benchmark or example files are in the package"
fi

step "control fields"
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = "$package" ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), expected $version"
for name in Maintainer Description Section Homepage; do
  [ -n "$(field "$name")" ] || fail "no $name: field"
done
field Depends | grep -q 'libc6' || fail "Depends: has no libc6 (dpkg-shlibdeps did not run?): $(field Depends)"

# Opt-in: no maintainer script may enable or start a service.
step "maintainer scripts enable nothing"
dpkg-deb --control "$deb" "$tmp/control"
for script in preinst postinst prerm postrm; do
  if [ -f "$tmp/control/$script" ] && grep -Eq 'systemctl|deb-systemd|invoke-rc|loginctl' "$tmp/control/$script"; then
    cat "$tmp/control/$script" >&2
    fail "$script touches services; the package must enable nothing (users opt in)"
  fi
done

step "rendered service files"
dpkg-deb -x "$deb" "$tmp/root"
units="$tmp/root/usr/lib/systemd/user"
plist="$tmp/root/usr/share/telemetry-kit/launchd/dev.telemetry-kit.agent.plist"
grep -qx 'ExecStart=/usr/bin/tk-agent' "$units/telemetry-kit-agent.service" || fail "ExecStart= is not /usr/bin/tk-agent: $(grep ExecStart "$units/telemetry-kit-agent.service")"
grep -qx 'Restart=on-failure' "$units/telemetry-kit-agent.service" || fail "the service lost Restart=on-failure (the @TK_ENVIRONMENT@ line)"
# Not %S: on systemd < 254 that is $XDG_CONFIG_HOME, not the clients' state dir.
grep -qx 'ReadWritePaths=%h/.local/state/telemetry-kit' "$units/telemetry-kit-agent.service" || fail "ReadWritePaths= is wrong"
grep -qx 'ExecStartPre=+/bin/mkdir -p -m 0700 %h/.local/state/telemetry-kit' "$units/telemetry-kit-agent.service" \
  || fail "the state dir is not made before the sandbox"
grep -qx 'PrivateUsers=yes' "$units/telemetry-kit-agent.service" || fail "PrivateUsers= is missing: the sandbox would not apply"
grep -qx 'PrivateTmp=yes' "$units/telemetry-kit-agent.service" || fail "PrivateTmp= is wrong"
grep -qx 'ListenStream=%t/telemetry-kit/agent.sock' "$units/telemetry-kit-agent.socket" || fail "ListenStream= is wrong"
grep -q '<string>/usr/bin/tk-agent</string>' "$plist" || fail "the plist's ProgramArguments is not /usr/bin/tk-agent"
if grep -En '@[A-Za-z_][A-Za-z0-9_]*@' "$units"/* "$plist"; then
  fail "a placeholder survived in an installed file"
fi
if command -v xmllint >/dev/null; then
  xmllint --noout "$plist" || fail "the plist is not well-formed XML"
fi

# --- Install it. Root only; and only where nothing of ours is installed already.
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the .deb's contents are right, but installing it needs root (dpkg -i); run this test as root to install, run, verify and remove it"
  exit "$skip"
fi
status=$(dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != "not-installed" ]; then
  echo "SKIP: $package is already installed on this machine (status: $status); not replacing it"
  exit "$skip"
fi
for path in $(grep -v '/$' "$tmp/contents"); do
  if [ -e "$path" ] || [ -L "$path" ]; then
    echo "SKIP: $path already exists on this machine (from cmake --install?); not overwriting it"
    exit "$skip"
  fi
done

step "dpkg -i"
installed_by_us=1
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i failed"; }
[ "$(dpkg-query -W -f '${db:Status-Abbrev}' "$package")" = "ii " ] || fail "$package is not installed after dpkg -i"

step "installed programs run"
for program in tk tk-agent tk-collector; do
  out=$("/usr/bin/$program" --version 2>&1) || fail "/usr/bin/$program --version failed: $out"
  [ "$out" = "$version" ] || fail "/usr/bin/$program --version printed '$out', expected '$version'"
done
# grep without -q reads all of ldconfig's output: with -q it exits at the first match and, under
# pipefail, ldconfig's SIGPIPE failed the check now and then.
ldconfig -p | grep 'libtelemetry_kit\.so\.0 ' > /dev/null || fail "libtelemetry_kit.so.0 is not in the ld.so cache after install"

step "nothing enabled"
if ls /etc/systemd/user/*/telemetry-kit-agent.* >/dev/null 2>&1; then
  ls -l /etc/systemd/user/*/telemetry-kit-agent.* >&2
  fail "installing the package enabled the agent for every user"
fi

step "systemd-analyze verify --user"
mkdir -p "$tmp/run" "$tmp/home"
chmod 0700 "$tmp/run"
analyze_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run")
"${analyze_env[@]}" systemd-analyze --user unit-paths | grep -x '/usr/lib/systemd/user' > /dev/null \
  || fail "/usr/lib/systemd/user is not among systemd's user unit paths"
"${analyze_env[@]}" systemd-analyze verify --user \
  /usr/lib/systemd/user/telemetry-kit-agent.socket /usr/lib/systemd/user/telemetry-kit-agent.service \
  > "$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify --user rejected the installed units"; }
if [ -s "$tmp/verify.log" ]; then
  cat "$tmp/verify.log" >&2
  fail "systemd-analyze verify --user warned about the installed units"
fi

step "dpkg -r"
dpkg -r "$package" > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -r failed"; }
for path in $(grep -v '/$' "$tmp/contents"); do
  if [ -e "$path" ] || [ -L "$path" ]; then fail "$path is still there after dpkg -r"; fi
done
# dpkg keeps a removed package's record (and postrm) until purged; leave the machine as it was.
dpkg --purge "$package" > "$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg --purge failed"; }
installed_by_us=0

echo "PASS: built, inspected, installed, ran, verified and removed $(basename "$deb")"
