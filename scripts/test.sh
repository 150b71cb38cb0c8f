#!/usr/bin/env bash
# README command 2: installs the dependencies, configures and builds everything (library, CLI,
# tests, benchmarks, the MILP solver, the LibTorch adapter when LibTorch is installed), runs the
# whole test suite with ctest, then every fuzzer for a bounded time (scripts/fuzz.sh).
# Exits non-zero on any failure.
#
#   bash scripts/test.sh
#   FUZZ_SECONDS=5 bash scripts/test.sh      # shorter fuzzing
#
# Environment: BUILD_DIR (default build), JOBS (default 2), FUZZ_SECONDS (default 30 per fuzzer;
# 0 skips fuzzing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-2}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
started=$SECONDS

bash "$ROOT/scripts/install-deps.sh"

torch=OFF
if dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  torch=ON
fi
echo "== configuring $BUILD_DIR (Release, LibTorch adapter: $torch)"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRADRECOMP_BUILD_TESTS=ON \
  -DGRADRECOMP_BUILD_BENCH=ON -DGRADRECOMP_WITH_MILP=ON -DGRADRECOMP_WITH_TORCH="$torch" >/dev/null

echo "== building"
ninja -C "$BUILD_DIR" -j "$JOBS"
echo "== build took $((SECONDS - started)) s"

echo "== running the tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

if [ "$FUZZ_SECONDS" != "0" ]; then
  FUZZ_SECONDS="$FUZZ_SECONDS" JOBS="$JOBS" bash "$ROOT/scripts/fuzz.sh"
fi
echo "== all checks passed in $((SECONDS - started)) s"
