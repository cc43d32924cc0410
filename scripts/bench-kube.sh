#!/usr/bin/env bash
# `make bench` part "kube": the real control plane (make k8s) as the operator meets it.
#   1. start-up of etcd + kube-apiserver + kube-controller-manager (metal-kube up), RUNS times, median;
#   2. Kubernetes requests the operator makes for one host's lifecycle (register → inspect →
#      available → provision → provisioned → delete → deprovisioned → gone: e2e test
#      lifecycle::deleting_a_provisioned_host…), read from the real apiserver's audit log;
#   3. the e2e suite's wall time on each control plane (scripts/e2e.sh, both passes; BENCH_KUBE_E2E=0
#      leaves it out).
# Printed, never asserted. Everything on loopback; every wait bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
JUDGES_HOME="${JUDGES_HOME:-$HOME/.cache/metal-judges}"
# shellcheck disable=SC1091
source "$JUDGES_HOME/k8s.env"
# shellcheck disable=SC1091
source "${TOOLS_HOME:-$HOME/.cache/metal-tools}/tools.env"
RUNS="${RUNS:-5}"
cargo build -q -p metal-wire -p metal-operator -p metal-e2e --bins
bin="$CARGO_TARGET_DIR/debug"

# Starts metal-kube up in $1; waits (bounded) for its state file; echoes its pid.
up() {
  "$bin/metal-kube" up --dir "$1" --max-seconds 900 >"$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 240); do
    [ -f "$1/state.json" ] && { echo "$pid"; return 0; }
    kill -0 "$pid" 2>/dev/null || { echo "bench-kube: metal-kube up failed:" >&2; tail -20 "$1.log" >&2; return 1; }
    sleep 0.5
  done
  echo "bench-kube: metal-kube up not ready in 120 s" >&2; kill "$pid"; return 1
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "-- real control plane start-up (kube-apiserver $KUBE_VERSION, etcd, kube-controller-manager), $RUNS runs"
times=()
for i in $(seq 1 "$RUNS"); do
  d=$(mktemp -d /tmp/bench-kube.XXXXXX)
  pid=$(up "$d")
  times+=("$(field "$d/state.json" startup_ms)")
  echo "  run $i: $(field "$d/state.json" startup_ms) ms (etcd $(field "$d/state.json" etcd_ms), apiserver $(field "$d/state.json" apiserver_ms), controller-manager $(field "$d/state.json" controller_manager_ms))"
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d" "$d.log"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "  median start-up: $median ms (target: under 10 000 ms warm)"
bench_row "kube: real control plane start-up (median of $RUNS)" "$median ms" "" "" "< 10000 ms"

echo "-- Kubernetes requests per host lifecycle (real apiserver audit log, operator's ServiceAccount)"
d=$(mktemp -d /tmp/bench-kube.XXXXXX)
pid=$(up "$d")
trap 'kill $pid 2>/dev/null || true' EXIT
E2E_BIN_DIR="$bin" E2E_CONTROL_PLANE=real E2E_REAL_STATE="$d/state.json" \
  cargo nextest run -p metal-e2e --test lifecycle -E 'test(deleting_a_provisioned_host)' --no-fail-fast 2>&1 | tail -3
"$bin/metal-kube" audit --state "$d/state.json" --rbac kind/operator/rbac.yaml
kill "$pid"; wait "$pid" 2>/dev/null || true; trap - EXIT; rm -rf "$d" "$d.log"

if [ "${BENCH_KUBE_E2E:-1}" = 1 ]; then
  echo "-- e2e suite wall time on each control plane"
  bash scripts/e2e.sh 2>&1 | grep -E '^e2e: (embedded|real|all)'
else
  echo "-- e2e suite wall time: skipped (BENCH_KUBE_E2E=0)"
fi
