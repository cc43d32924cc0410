#!/usr/bin/env bash
# `make lint`'s layering check: the operator's pure cores (crate metal-core, core/) build on their
# own and reach no async runtime, HTTP stack or Kubernetes client. Fails, naming the crate, when
# one of those appears among metal-core's normal dependencies (on any target).
set -euo pipefail
cd "$(dirname "$0")/.."

FORBIDDEN=(tokio reqwest hyper axum kube-client kube-runtime)

echo "check-layers: cargo check -p metal-core (alone: no features from the rest of the workspace)"
cargo check -q -p metal-core

tree=$(cargo tree -q -p metal-core -e normal --target all --prefix none | awk '{print $1}' | sort -u)
status=0
for name in "${FORBIDDEN[@]}"; do
  if grep -qx -- "$name" <<<"$tree"; then
    echo "check-layers: FAILED metal-core depends on $name; the path to it:" >&2
    cargo tree -q -p metal-core -e normal --target all --invert "$name" >&2 || true
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "check-layers: ok (metal-core reaches none of: ${FORBIDDEN[*]})"
fi
exit "$status"
