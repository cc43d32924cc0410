#!/usr/bin/env bash
# Start-up time and resident memory of metal-sim for 1 000 BMCs (per-address layout) and
# 10 000 BMCs (single-address layout). Target: under 50 KiB per simulated host.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bin="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}/release/metal-sim"
[ -x "$bin" ] || cargo build --release -q -p metal-wire --bins
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
printf '%-44s %s\n' "fleet" "metal-sim serve --exit-after-start (3 runs)"
for fleet in fleets/bench-1000-per-address.yaml fleets/bench-10000-single-address.yaml; do
  for run in 1 2 3; do
    line=$(timeout 120 "$bin" serve --fleet "$fleet" --exit-after-start --control 127.0.0.1:0 2>/dev/null | grep -i 'started' | tail -1)
    printf '%-44s run %d: %s\n' "$fleet" "$run" "$line"
  done
  # The last run's figures go to the summary table.
  ms=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$line")
  kib=$(sed -n 's/.*, \([0-9.]*\) KiB per host.*/\1/p' <<<"$line")
  hosts=$(sed -n 's/^started \([0-9]*\) hosts.*/\1/p' <<<"$line")
  bench_row "fleet: start-up + memory, ${hosts:-?} BMCs ($(basename "$fleet" .yaml | sed 's/^bench-[0-9]*-//'))" \
    "${ms:-?} ms, ${kib:-?} KiB/host" "" "" "< 50 KiB/host"
done
