#!/usr/bin/env bash
# Engine mode at fleet scale: HOSTS (default 10 000) through register → inspect → available →
# provisioned → deprovisioned → available in virtual time. Prints per-phase virtual and wall time,
# events, trace records and peak RSS next to the targets (issue 13: < 5 s and < 512 MiB for 10 000 hosts); nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts="${1:-10000}"
case "$hosts" in
  ''|*[!0-9]*) echo "usage: $0 [HOSTS]" >&2; exit 2 ;;
esac
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
out=$(timeout 900 cargo bench -q -p metal-scenario --bench engine -- "$hosts")
echo "$out"
wall=$(sed -n 's/.*total: wall \([0-9.]*\)s.*/\1/p' <<<"$out")
rss=$(sed -n 's/.*peak RSS: \([0-9]*\) MiB.*/\1/p' <<<"$out")
bench_row "engine: $hosts hosts, full lifecycle (wall)" "${wall:-?} s" "" "" "< 5 s (10 000 hosts)"
bench_row "engine: $hosts hosts, peak RSS" "${rss:-?} MiB" "" "" "< 512 MiB (10 000 hosts)"
