#!/usr/bin/env bash
# `make bench`: every benchmark, side by side with the peer it is compared against, in one run.
# Each part is bounded in time and leaves no processes behind. Figures are printed, never asserted.
# At the end, one table: every part's headline figures (each bench-*.sh appends rows to $BENCH_TABLE,
# see scripts/bench-lib.sh) and the upstream figures we are compared with, quoted, not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${PEERS_HOME:-$HOME/.cache/metal-peers}/peers.env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
BENCH_TABLE="$(mktemp "${TMPDIR:-/tmp}/bench-table.XXXXXX")"
export BENCH_TABLE
trap 'rm -f "$BENCH_TABLE"' EXIT

echo "== building release binaries"
cargo build --release -q -p metal-operator -p metal-wire --bins

status=0
# BENCH_PARTS="redfish ipmi" runs only those parts (default: all, in this order). `wire-one` is
# bench-wire.sh with one host (issue 13's one-host lifecycle), `wire` with 1 000.
for part in ${BENCH_PARTS:-operator fleet redfish ipmi ironic engine wire-one wire library kube h2h}; do
  case "$part" in
    wire-one) run=(bash scripts/bench-wire.sh 1) ;;
    *) run=(bash "scripts/bench-$part.sh") ;;
  esac
  echo
  echo "== bench: $part"
  if ! "${run[@]}"; then
    echo "bench $part FAILED" >&2
    status=1
    bench_row "bench $part" "FAILED" "" "" ""
  fi
done

# Upstream figures, quoted from their sources (issue #13, docs/benchmarks.md), never measured here.
bench_row "quoted: Metal3 scale run, 1 000 fake nodes" "" "~48 h on 24 cores" "" "(upstream figure)"
bench_row "quoted: BMO scale test, 800 hosts enrolled" "" "328 s" "" "(upstream figure)"

echo
echo "== summary (ours, the anchor it is measured against, ours/anchor, the target; one run, noisy)"
bench_table_print "$BENCH_TABLE"
exit $status
