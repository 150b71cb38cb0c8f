#!/usr/bin/env bash
# README command 1: installs the dependencies, builds gradrecomp (Release, Ninja) and runs the
# main job end to end on a built-in default, printing each command before its output.
#
#   bash scripts/example.sh
#
# Today the main job plans recomputation for a generated heterogeneous chain: describe it, draw
# every solver's Pareto frontier, pick the smallest peak within 5% compute overhead, and replay
# the schedule with the simulator. Files land in out/ (graph.json, frontier.svg, frontier.csv,
# schedule.json, timeline.svg).
#
# Environment: BUILD_DIR (default build), OUT_DIR (default out), JOBS (default 2),
# STAGES (default 24) and SEED (default 1) for the generated chain.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
OUT_DIR="${OUT_DIR:-$ROOT/out}"
JOBS="${JOBS:-2}"
STAGES="${STAGES:-24}"
SEED="${SEED:-1}"

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

# The main job. Add steps here (a real model, `gradrecomp compare`, ...) as the tool grows.
main_job() {
  mkdir -p "$OUT_DIR"
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
