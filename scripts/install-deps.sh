#!/usr/bin/env bash
# Installs everything telemetry-kit needs to build, test and run, from Debian's packages.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ca-certificates \
  libboost-dev libboost-system-dev \
  libsqlite3-dev sqlite3 \
  libspdlog-dev libfmt-dev \
  libprotobuf-dev protobuf-compiler \
  catch2 libcli11-dev \
  libpq-dev postgresql postgresql-client \
  libssl-dev openssl \
  curl procps util-linux \
  systemd dpkg-dev libxml2-utils \
  ccache \
  clang libclang-rt-dev \
  python3-pytest python3-click \
  cargo \
  golang-go \
  haproxy \
  chromium chromium-driver
# The Node.js client (client/node/), its tests and the dashboard's build (collector/dashboard, `npm ci`
# from its lockfile): Node >= 18. Debian's nodejs ships npm separately; NodeSource's nodejs bundles it
# (and conflicts with Debian's npm), so npm only if it is missing.
$SUDO apt-get install -y -q --no-install-recommends nodejs
if ! command -v npm >/dev/null 2>&1; then $SUDO apt-get install -y -q --no-install-recommends npm; fi
