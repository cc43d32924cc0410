#!/usr/bin/env bash
# The operator's costs: one state-machine decision (a plain timing loop, median of 15 batches), and the
# Ironic API calls of one host's lifecycle (register → inspect → provision → deprovision) through the real
# IronicProvisioner against a recording Ironic double, next to the upstream lesson that version discovery
# must not run per reconcile.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
echo "-- one state-machine decision (release build)"
out=$(cargo bench -q -p metal-operator --bench decision)
echo "$out"
us=$(awk '/^provisioned, steady-state power poll/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "µs") print $i }' <<<"$out")
bench_row "operator: one decision (steady-state poll)" "${us:-?} us" "" "" ""
echo
echo "-- Ironic API calls for one host's full lifecycle (IronicProvisioner, recording double)"
out=$(cargo test -q -p metal-operator --test ironic_provisioner one_host_lifecycle_costs -- --nocapture 2>/dev/null)
echo "$out" | sed -n '/ironic API calls/,/^$/p' | grep -v '^test \|^running\|^$\|^\.$'
calls=$(sed -n "s/.*lifecycle: \([0-9]*\) (\([0-9]*\) of them polls).*/\1 (\2 polls)/p" <<<"$out" | head -1)
bench_row "operator: Ironic calls per host lifecycle" "${calls:-?}" "" "" "1 GET / per client"
echo "-- reconciles in one simulated lifecycle (none → … → available → provisioned → … → deleted)"
out=$(cargo test -q -p metal-operator --test statemachine_lifecycle a_host_walks_the_full_lifecycle -- --nocapture 2>/dev/null)
echo "$out" | grep -i 'decision' | head -3
cat <<'TXT'
Upstream lesson (BMO): API version discovery once per reconcile added a GET / to every reconcile; ours
negotiates once per client (the test above asserts exactly one GET / across the whole lifecycle), so
per-reconcile discovery would add one call per decision counted above.
TXT
