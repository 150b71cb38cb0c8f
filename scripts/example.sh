#!/usr/bin/env bash
# README command 1: installs the dependencies, builds gradrecomp (Release, Ninja, with the LibTorch
# adapter) and runs the main job end to end on a built-in default, printing each command before
# its output.
#
#   bash scripts/example.sh
#
# The main job is `gradrecomp compare --model resnet152 --small`: train ResNet-152's architecture
# in its small configuration (bottlenecks [1,2,2,1], 64x64 images) on synthetic data with full
# caching, sqrt(N) and every-2 checkpointing and the optimal plan, and measure activation memory,
# step time, gradients and the largest batch under 3x full caching's memory: about 2 minutes on
# 2 cores. Then the planner alone on a generated heterogeneous chain:
# describe it, draw every solver's Pareto frontier, pick the smallest peak within 5% compute
# overhead, and replay the schedule with the simulator. Files land in out/ (compare.json,
# compare-memory-overhead.svg, compare-timeline.svg, graph.json, frontier.svg, frontier.csv,
# schedule.json, timeline.svg).
#
# Environment: BUILD_DIR (default build), OUT_DIR (default out), JOBS (default 2),
# STAGES (default 24) and SEED (default 1) for the generated chain, COMPARE_ARGS (extra options
# for `gradrecomp compare`; default "--model resnet152 --small"; "" trains the built-in
# resnet-demo net).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
OUT_DIR="${OUT_DIR:-$ROOT/out}"
JOBS="${JOBS:-2}"
STAGES="${STAGES:-24}"
SEED="${SEED:-1}"
COMPARE_ARGS="${COMPARE_ARGS:---model resnet152 --small}"

bash "$ROOT/scripts/install-deps.sh"

echo "== configuring and building gradrecomp (Release) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR" -j "$JOBS" gradrecomp >/dev/null

GRADRECOMP="$BUILD_DIR/gradrecomp"
# Prints the command as a user would type it, then runs it.
run() {
  echo
  echo "\$ gradrecomp $*"
  "$GRADRECOMP" "$@"
}

# The main job: a real model trained under each strategy, then the planner on its own.
main_job() {
  mkdir -p "$OUT_DIR"
  # shellcheck disable=SC2086
  run compare $COMPARE_ARGS --json "$OUT_DIR/compare.json" --svg "$OUT_DIR/compare"
  local graph="$OUT_DIR/graph.json"
  run generate random-chain --stages "$STAGES" --seed "$SEED" --out "$graph"
  run info "$graph"
  run frontier "$graph" --svg "$OUT_DIR/frontier.svg" --csv "$OUT_DIR/frontier.csv"
  run solve "$graph" --max-overhead 5% --out "$OUT_DIR/schedule.json"
  run simulate "$graph" "$OUT_DIR/schedule.json" --timeline "$OUT_DIR/timeline.svg"
}

main_job
echo
echo "== done: outputs in $OUT_DIR"
