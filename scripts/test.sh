#!/usr/bin/env bash
# The README's test command: installs dependencies, builds (warnings as errors), runs every test with
# ctest, then the sanitizer job (ASan + UBSan; scripts/test-sanitizers.sh; TK_SANITIZERS=0 skips it)
# and the fuzzing job (scripts/fuzz.sh; TK_FUZZ=0 skips it).
# Tests start what they need themselves: the agent, the collector, a throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${TK_SKIP_DEPS:-0}" != "1" ]; then scripts/install-deps.sh; fi
BUILD_DIR="${BUILD_DIR:-build}"
source scripts/ccache.sh
cmake -S . -B "$BUILD_DIR" -G Ninja "${CMAKE_LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTK_WERROR=ON
cmake --build "$BUILD_DIR" -j"$(nproc)"
(cd "$BUILD_DIR" && ctest --output-on-failure -j"$(nproc)" --timeout 300)
# The sanitizer job: about 4 min on 2 cores (-O0 builds; see the script).
if [ "${TK_SANITIZERS:-1}" = "1" ]; then scripts/test-sanitizers.sh; fi
# The fuzzing job: clang + libFuzzer, each corpus replayed, then 20 s per target (docs/fuzzing.md).
if [ "${TK_FUZZ:-1}" = "1" ]; then scripts/fuzz.sh; fi
