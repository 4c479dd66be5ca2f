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
  haproxy \
  chromium chromium-driver
# The dashboard is built with node and npm (collector/dashboard; packages from its lockfile by
# `npm ci` during the build). Debian's own nodejs/npm unless a node is installed already (a newer
# one from elsewhere must not be replaced by Debian's).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
