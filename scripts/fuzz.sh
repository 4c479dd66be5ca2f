#!/usr/bin/env bash
# The fuzzing job (docs/fuzzing.md): builds the libFuzzer targets with clang, ASan and UBSan, replays
# each seed corpus (ctest -L fuzz), then fuzzes each target for TK_FUZZ_SECONDS (default 20) seconds.
# New inputs go to a scratch copy of the corpus, never into the repo; a crash leaves its input in
# build-fuzz/artifacts/ and fails the job. Called by scripts/test.sh (TK_FUZZ=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"
SECONDS_EACH="${TK_FUZZ_SECONDS:-20}"
TARGETS=(fuzz_frame_decoder fuzz_agent_event fuzz_collector_proto fuzz_collector_json)
source scripts/ccache.sh
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja "${CMAKE_LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=None \
  "-DCMAKE_CXX_FLAGS=-O1 -g" -DTK_FUZZ=ON -DTK_BUILD_TESTS=OFF -DTK_BUILD_BENCH=OFF
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${TARGETS[@]}"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$BUILD_DIR" && ctest --output-on-failure -L fuzz)
mkdir -p "$BUILD_DIR/artifacts"
for target in "${TARGETS[@]}"; do
  scratch="$BUILD_DIR/corpus-scratch/$target"
  mkdir -p "$scratch"
  echo "fuzzing $target for ${SECONDS_EACH}s"
  # -timeout: one input taking over 5 s is a hang (quadratic scrubbing, say), and a failure.
  status=0
  "$BUILD_DIR/fuzz/$target" -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$target-" \
    "$scratch" "fuzz/corpus/$target" > "$BUILD_DIR/$target.log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)" "$BUILD_DIR/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -60 "$BUILD_DIR/$target.log" >&2
    echo "FAILED: $target exited $status; the input is in $BUILD_DIR/artifacts/ (docs/fuzzing.md: add it to the corpus as regress-*)" >&2
    exit 1
  fi
done
echo "fuzzing: ${#TARGETS[@]} targets, ${SECONDS_EACH}s each, no crash"
