#!/usr/bin/env bash
# `make lint`'s layering check: each crate reaches only the layers below it (docs/architecture.md).
# Fails, naming the crate and the path, when a forbidden crate appears among a crate's normal
# dependencies (on any target; dev-dependencies do not count, they build only tests).
#
#   metal-core      the operator's pure cores: no async runtime, HTTP stack or Kubernetes client
#   metal-controlplane  the Kubernetes API double: nothing of the operator or the simulator
#   metal-sim       the fakes: nothing of the operator's shells, nor the layers above them
#   metal-scenario  scenarios, player, engine mode: the operator's cores only, never its shells
#   metal-testkit   test support below everything (the operator's own tests use it)
#   metal-tls       TLS plumbing shared by the operator, the fakes and the control plane: nothing else
#   metal-guard     the listener rule every HTTP server serves under: nothing else
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A FORBIDDEN=(
  [metal-core]="tokio reqwest hyper axum kube-client kube-runtime metal-operator metal-sim"
  [metal-controlplane]="metal-core metal-operator metal-sim metal-scenario metal-wire"
  [metal-sim]="metal-operator metal-scenario metal-wire"
  [metal-scenario]="metal-operator metal-wire"
  [metal-testkit]="metal-core metal-operator metal-sim metal-scenario metal-wire"
  [metal-tls]="metal-core metal-controlplane metal-operator metal-sim metal-scenario metal-wire metal-testkit"
  [metal-guard]="metal-core metal-controlplane metal-operator metal-sim metal-scenario metal-wire metal-testkit metal-tls"
)
ORDER=(metal-core metal-controlplane metal-sim metal-scenario metal-testkit metal-tls metal-guard)

echo "check-layers: cargo check -p metal-core (alone: no features from the rest of the workspace)"
cargo check -q -p metal-core

status=0
for crate in "${ORDER[@]}"; do
  tree=$(cargo tree -q -p "$crate" -e normal --target all --prefix none | awk '{print $1}' | sort -u)
  bad=0
  for name in ${FORBIDDEN[$crate]}; do
    if grep -qx -- "$name" <<<"$tree"; then
      echo "check-layers: FAILED $crate depends on $name; the path to it:" >&2
      cargo tree -q -p "$crate" -e normal --target all --invert "$name" >&2 || true
      bad=1
      status=1
    fi
  done
  if [ "$bad" -eq 0 ]; then
    echo "check-layers: ok ($crate reaches none of: ${FORBIDDEN[$crate]})"
  fi
done
exit "$status"
