#!/usr/bin/env bash
# Seeded chaos (issue 15, item 10): ENGINE seeds in engine mode (default 1..1000) and WIRE seeds in
# wire mode (default 1..20), each drawing a fleet and a timeline of host operations and faults and
# judging the invariants and convergence. Failing seeds' scenarios go to OUT/failing/ (ready for
# `metal-sim run`). Exits non-zero when any seed has a violation.
#   scripts/chaos.sh [ENGINE_SEEDS [WIRE_SEEDS]]     e.g. scripts/chaos.sh 1..1000 1..20
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${1:-1..1000}"
wire="${2:-1..20}"
out="${CHAOS_OUT:-chaos-runs}"
for range in "$engine" "$wire"; do
  [[ "$range" =~ ^[0-9]+\.\.[0-9]+$ ]] || { echo "usage: $0 [A..B [C..D]]" >&2; exit 2; }
done
# The dev profile the tests build (dependencies optimised): 1 000 engine seeds take about 90 s.
cargo build -q -p metal-wire --bin metal-sim
bin="${CARGO_TARGET_DIR:-target}/debug/metal-sim"
status=0
mkdir -p "$out"
# Only failing seeds and their violations are shown; the full logs are kept.
failures() { grep -E '^(seed [0-9]+: FAIL|  )' || true; }
"$bin" chaos --mode engine --seeds "$engine" --write-failing "$out/failing" \
  | tee "$out/engine.log" | failures || status=1
tail -n 1 "$out/engine.log"
"$bin" chaos --mode wire --seeds "$wire" --out "$out" --write-failing "$out/failing" \
  | tee "$out/wire.log" | failures || status=1
tail -n 1 "$out/wire.log"
exit "$status"
