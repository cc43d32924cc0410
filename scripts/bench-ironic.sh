#!/usr/bin/env bash
# Mock Ironic vs real Ironic 39.0.0 in the same run: wrk -t1 -c8 -d10s GET /v1/nodes (10 nodes, latest),
# and one fake-hardware node's full lifecycle wall time. Needs the peers venv (scripts/peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cache/metal-peers/peers.env" ]; then
  # shellcheck disable=SC1091
  source "$HOME/.cache/metal-peers/peers.env"
fi
profile_args=()
if [ "${BENCH_RELEASE:-0}" = "1" ]; then profile_args=(--release); fi
exec cargo test -p metal-sim "${profile_args[@]}" --test ironic_bench -- --ignored --nocapture --test-threads 1
