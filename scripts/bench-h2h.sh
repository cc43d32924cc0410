#!/usr/bin/env bash
# Head to head with upstream Metal3 baremetal-operator (BMO v0.13.2, `make bmo`): one real control
# plane (etcd, kube-apiserver, kube-controller-manager on loopback, upstream's CRDs), one image server,
# and for HOSTS (default "100 1000") hosts and each settings row (default, tuned), BMO then our
# operator, each on a fresh namespace and a fresh `metal-sim serve` (same fleet, clean mock Ironic):
# register → inspect → available → provisioned → deprovisioned → available. Prints wall times, CPU
# seconds, peak RSS, Ironic and Kubernetes requests per host and the ratios ours/BMO; nothing is
# asserted. Each phase is bounded by PHASE_TIMEOUT seconds (default 900) and a bound hit is a figure.
# H2H_SETTINGS="default" or "tuned" runs one settings row only. Outputs stay in $H2H_DIR (default a
# fresh directory under $TMPDIR, kept: logs of every process and results.json).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
hosts="${HOSTS:-100 1000}"
settings="${H2H_SETTINGS:-default tuned}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
cargo build --release -q -p metal-operator -p metal-wire -p metal-e2e --bins # no-op when fresh
bash scripts/bmo.sh >/dev/null # cached: returns at once when BMO v0.13.2 is built
# 1 000 hosts: the BMCs share one listener, but each operator, the fake agents and the mock Ironic
# hold connections per host.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

dir="${H2H_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-h2h.XXXXXX")}"
mkdir -p "$dir"
summary="$dir/summary.tsv"
: >"$summary"
echo "head to head: hosts ${hosts// /, }; settings ${settings// /, }; phase bound ${PHASE_TIMEOUT:-900}s; outputs in $dir"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
set +e
"$CARGO_TARGET_DIR/release/metal-h2h" \
  --hosts "${hosts// /,}" --settings "${settings// /,}" \
  --phase-timeout "${PHASE_TIMEOUT:-900}" \
  --dir "$dir" --bin-dir "$CARGO_TARGET_DIR/release" --summary "$summary"
rc=$?
set -e
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
while IFS=$'\t' read -r figure ours anchor ratio target; do
  bench_row "$figure" "$ours" "$anchor" "$ratio" "$target"
done <"$summary"
exit "$rc"
