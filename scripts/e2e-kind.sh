#!/usr/bin/env bash
# kind mode of `make e2e` (called by scripts/e2e.sh when `docker info` and `kind` work; also usable
# on its own). It
#   1. creates the kind cluster from kind/kind-config.yaml (or reuses one of the same name),
#   2. builds the two images (docker/Dockerfile, one target each) and loads them into the node with `kind load`,
#   3. applies kind/e2e (kind/ with the simulator serving fleets/e2e-kind.yaml) and waits for the
#      Deployments to be available,
#   4. port-forwards the simulator's control API and the mock Ironic Services to local ports and runs
#      the e2e suite (package metal-e2e) against the cluster: E2E_KUBECONFIG, E2E_SIM_CONTROL,
#      E2E_IRONIC_URL, and E2E_IMAGE_URL / E2E_IMAGE_CHECKSUM_URL (served inside the simulator's pod).
#      Extra arguments go to `cargo nextest run` / `cargo test` (a filter).
# On failure it prints the pods, the BareMetalHosts and the tail of each Deployment's log.
#
# Settings (environment): KIND_CLUSTER_NAME (default metal3), E2E_KEEP_CLUSTER=1 keeps the cluster
# afterwards (it is deleted otherwise, unless it existed before), KIND_WAIT (default 180s).
set -euo pipefail
cd "$(dirname "$0")/.."

cluster="${KIND_CLUSTER_NAME:-metal3}"
wait_for="${KIND_WAIT:-180s}"
namespace=metal3-system
operator_image=localhost/metal-operator:dev
sim_image=localhost/metal-sim:dev

step() { printf '\n== %s\n' "$*"; }
for tool in docker kind kubectl cargo; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool is required" >&2; exit 2; }
done

work=$(mktemp -d)
forwards=()
created=0
dump() {
  echo "e2e-kind: failed; the cluster as it is now:" >&2
  kubectl get pods -A -o wide >&2 || true
  kubectl get bmh -A -o wide >&2 || true
  for d in metal-operator metal-sim; do
    echo "--- logs of deployment/$d (all containers, last 60 lines each)" >&2
    kubectl -n "$namespace" logs "deployment/$d" --all-containers --tail=60 >&2 || true
  done
}
cleanup() {
  local rc=$?
  (( rc == 0 )) || dump
  for p in "${forwards[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if (( created )) && [ "${E2E_KEEP_CLUSTER:-0}" != 1 ]; then
    kind delete cluster --name "$cluster" || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

step "kind cluster $cluster (kind/kind-config.yaml)"
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "reusing the existing cluster $cluster"
else
  kind create cluster --name "$cluster" --config kind/kind-config.yaml --wait "$wait_for"
  created=1
fi
kind get kubeconfig --name "$cluster" >"$work/kubeconfig"
export KUBECONFIG="$work/kubeconfig"

step "images: $operator_image, $sim_image"
docker build -f docker/Dockerfile --target metal-operator -t "$operator_image" .
docker build -f docker/Dockerfile --target metal-sim -t "$sim_image" .
kind load docker-image --name "$cluster" "$operator_image" "$sim_image"

step "apply kind/e2e (CRDs, RBAC, operator, simulator)"
# Server-side: the CRDs are too large for client-side apply's last-applied annotation to be wise.
kubectl apply --server-side --force-conflicts -k kind/e2e
kubectl wait --for=condition=Established --timeout="$wait_for" crd --all
# A re-run with new images of the same tag: restart so the pods pick them up.
kubectl -n "$namespace" rollout restart deployment/metal-sim deployment/metal-operator
kubectl -n "$namespace" rollout status deployment/metal-sim --timeout="$wait_for"
kubectl -n "$namespace" rollout status deployment/metal-operator --timeout="$wait_for"

# Forwards a Service port to a free local port (in this shell, so cleanup can stop it).
start_forward() { # start_forward SERVICE PORT NAME
  kubectl -n "$namespace" port-forward "service/$1" ":$2" >"$work/forward-$3.log" 2>&1 &
  forwards+=($!)
}
# The local port a forward chose (bounded wait for kubectl to say it).
forwarded_port() { # forwarded_port NAME
  local log="$work/forward-$1.log" port
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n1)
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    sleep 0.1
  done
  echo "e2e-kind: port-forward $1 did not start:" >&2
  cat "$log" >&2
  return 1
}
step "port-forward the simulator's control API and the mock Ironic"
start_forward metal-sim 9100 control
start_forward metal-sim-ironic 6385 ironic
control_port=$(forwarded_port control)
ironic_port=$(forwarded_port ironic)

export E2E_KUBECONFIG="$KUBECONFIG"
export E2E_SIM_CONTROL="http://127.0.0.1:$control_port"
export E2E_IRONIC_URL="http://127.0.0.1:$ironic_port"
# The image as the fake agent sees it: the metal-sim pod's `images` container, on its loopback.
export E2E_IMAGE_URL="http://127.0.0.1:8088/os.img"
export E2E_IMAGE_CHECKSUM_URL="http://127.0.0.1:8088/os.img.sha256sum"
echo "E2E_KUBECONFIG=$E2E_KUBECONFIG E2E_SIM_CONTROL=$E2E_SIM_CONTROL E2E_IRONIC_URL=$E2E_IRONIC_URL"
echo "E2E_IMAGE_URL=$E2E_IMAGE_URL E2E_IMAGE_CHECKSUM_URL=$E2E_IMAGE_CHECKSUM_URL"

step "e2e suite against kind"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run -p metal-e2e --no-fail-fast "$@"
else
  cargo test -p metal-e2e --no-fail-fast "$@"
fi
