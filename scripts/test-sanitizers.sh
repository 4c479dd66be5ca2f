#!/usr/bin/env bash
# The sanitizer job: the codec, the client library and the agent, built with AddressSanitizer and
# UndefinedBehaviorSanitizer, and their tests run against the instrumented binaries (the real agent
# process included). Called by scripts/test.sh after the main suite (TK_SANITIZERS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${SANITIZE_BUILD_DIR:-build-sanitize}"
TESTS=(test_framing test_uuid test_paths test_unix_socket test_proto
       test_agent_units test_scrubber test_platform test_agent_store test_agent_intake test_agent_canonical test_agent_policy test_agent_connections test_tk_cli
       test_client_wire test_client_offline test_client_transport test_client_c_api test_client_agent
       test_spool_format test_client_spool)
# -O0 -g1: ASan's clearest reports (nothing inlined away, line numbers in the stacks), and a third
# of -O2's compile time (Beast's HTTP client: 57 s instead of 195 s), which is what lets this job run
# in CI. -Werror stays off here: GCC 12 + ASan gives false-positive warnings inside Catch2.
source scripts/ccache.sh
cmake -S . -B "$BUILD_DIR" -G Ninja "${CMAKE_LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O0 -g1" -DTK_SANITIZE=ON -DTK_BUILD_BENCH=OFF
cmake --build "$BUILD_DIR" -j"$(nproc)" --target tk-agent tk demo-cli "${TESTS[@]}"
cd "$BUILD_DIR"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
pattern="^($(IFS='|'; echo "${TESTS[*]}")):"
ctest --output-on-failure -j"$(nproc)" --timeout 300 -R "$pattern"
