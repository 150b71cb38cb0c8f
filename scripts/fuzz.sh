#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs each one for a bounded time.
# Fails (non-zero exit) if the build fails or any fuzzer finds a crash, a sanitizer report or a
# broken property; the reproducer is left in build-fuzz/artifacts/.
#
#   bash scripts/fuzz.sh                 # 30 s per fuzzer
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh
#
# Environment: FUZZ_SECONDS (default 30) per fuzzer; BUILD_DIR (default build-fuzz);
# JOBS (default 2) build parallelism.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
JOBS="${JOBS:-2}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ is not installed (run scripts/install-deps.sh)" >&2
  exit 1
fi

echo "== fuzz: configuring $BUILD_DIR with clang"
mkdir -p "$BUILD_DIR"
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRADRECOMP_BUILD_FUZZERS=ON -DGRADRECOMP_BUILD_TESTS=OFF -DGRADRECOMP_BUILD_BENCH=OFF \
  -DGRADRECOMP_WITH_TORCH=OFF -DGRADRECOMP_WITH_MILP=OFF >"$BUILD_DIR/configure.log" 2>&1 || {
  cat "$BUILD_DIR/configure.log" >&2
  exit 1
}
echo "== fuzz: building"
ninja -C "$BUILD_DIR" -j "$JOBS" fuzzers

mkdir -p "$BUILD_DIR/artifacts"
status=0
for source in "$ROOT"/fuzz/*_fuzzer.cpp; do
  name="$(basename "$source" .cpp)"
  seeds="$ROOT/fuzz/corpus/$name"
  work="$BUILD_DIR/corpus/$name"   # grows as the fuzzer finds new inputs; the seeds stay untouched
  mkdir -p "$work"
  echo "== fuzz: $name for ${FUZZ_SECONDS}s (seeds: fuzz/corpus/$name)"
  if "$BUILD_DIR/$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -dict="$ROOT/fuzz/gradrecomp.dict" -artifact_prefix="$BUILD_DIR/artifacts/$name-" \
       "$work" "$seeds" >"$BUILD_DIR/$name.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$BUILD_DIR/$name.log" | sed 's/^/   /' || true
  else
    status=1
    echo "== fuzz: $name FAILED; last lines of $BUILD_DIR/$name.log:" >&2
    tail -n 40 "$BUILD_DIR/$name.log" >&2
  fi
done
if [ "$status" -ne 0 ]; then
  echo "== fuzz: failures found; reproducers in $BUILD_DIR/artifacts/" >&2
else
  echo "== fuzz: no crashes"
fi
exit "$status"
