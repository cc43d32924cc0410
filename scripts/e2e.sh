#!/usr/bin/env bash
# `make e2e`: the end-to-end suite (crate e2e/, package metal-e2e).
#   kind mode     — when `docker info` and `kind` work: scripts/e2e-kind.sh creates the cluster, loads
#                   the images, applies kind/ and runs the same suite against it (E2E_KUBECONFIG).
#   embedded mode — otherwise: the real metal-sim and metal-operator binaries as local processes, one
#                   stack per test (embedded control plane, fleet BMCs, mock Ironic, operator) on its own
#                   loopback addresses.
# It prints which mode ran and how long it took. Extra arguments go to `cargo nextest run` (a filter).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
start=$(date +%s)
if command -v docker >/dev/null && docker info >/dev/null 2>&1 && command -v kind >/dev/null; then
  echo "e2e: mode=kind (docker and kind work here)"
  bash scripts/e2e-kind.sh "$@"
  echo "e2e: mode=kind passed in $(( $(date +%s) - start )) s"
  exit 0
fi
echo "e2e: mode=embedded (no working Docker engine or kind here): local processes, embedded control plane"
command -v kubectl >/dev/null || { echo "e2e: kubectl is required (the suite drives the cluster with it)" >&2; exit 2; }
# The suite starts the binaries from the target directory; build them first so they are current.
cargo build -q -p metal-sim -p metal-operator --bins
export E2E_BIN_DIR="$CARGO_TARGET_DIR/debug"
unset E2E_KUBECONFIG
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run -p metal-e2e --no-fail-fast "$@"
else
  cargo test -p metal-e2e --no-fail-fast "$@"
fi
echo "e2e: mode=embedded passed in $(( $(date +%s) - start )) s"
