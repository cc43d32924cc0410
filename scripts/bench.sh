#!/usr/bin/env bash
# `make bench`: every benchmark, side by side with the peer it is compared against, in one run.
# Each part is bounded in time and leaves no processes behind. Figures are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${PEERS_HOME:-$HOME/.cache/metal-peers}/peers.env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"

echo "== building release binaries"
cargo build --release -q -p metal-operator -p metal-wire --bins

status=0
for part in operator fleet redfish ipmi ironic engine wire kube; do
  script="scripts/bench-$part.sh"
  echo
  echo "== bench: $part"
  if ! bash "$script"; then
    echo "bench $part FAILED" >&2
    status=1
  fi
done
exit $status
