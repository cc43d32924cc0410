#!/usr/bin/env bash
# Mock Ironic vs real Ironic 39.0.0 in the same run: wrk -t1 -c8 -d10s GET /v1/nodes (10 nodes, latest),
# one fake-hardware node's full lifecycle wall time, and paged listing throughput with 1 000 nodes and
# 5 000 ports (limit=100, following next, one client). Needs the peers venv (scripts/peers.sh).
#
# The mock measured is the RELEASE `metal-sim serve --ironic` (its conductor at real Ironic's measured
# fake-hardware timings), on a free loopback port; the test binary in simulator/tests/ironic_bench.rs
# starts real Ironic, drives both and runs wrk. BENCH_MOCK=in-process measures the test's own
# in-process mock instead (no simulated delays; BENCH_RELEASE=1 builds the test in release).
# Environment: METAL_SIM (a built binary; default: release build), CARGO_TARGET_DIR, PEERS_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
PEERS_HOME="${PEERS_HOME:-$HOME/.cache/metal-peers}"
if [ -f "$PEERS_HOME/peers.env" ]; then
  # shellcheck disable=SC1091
  source "$PEERS_HOME/peers.env"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
profile_args=()
if [ "${BENCH_RELEASE:-0}" = "1" ]; then profile_args=(--release); fi

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mock_env=()
mock_kind="in-process mock ($([ "${BENCH_RELEASE:-0}" = 1 ] && echo release || echo debug) test build)"
if [ "${BENCH_MOCK:-release}" != "in-process" ]; then
  if [ -z "${METAL_SIM:-}" ]; then
    echo "bench-ironic: building metal-sim (release)…" >&2
    timeout 1800 cargo build -q --release -p metal-wire --bin metal-sim
    METAL_SIM="$CARGO_TARGET_DIR/release/metal-sim"
  fi
  read -r port_ironic port_control port_redfish < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
PY
)
  # The mock Ironic needs a fleet to serve beside; one Redfish host, all on loopback.
  cat >"$work/fleet.yaml" <<YAML
seed: 7
time_scale: 0.01
layout: {mode: single-address, base: 127.0.0.1, redfish_port: $port_redfish}
groups:
  - name: bench-ironic-{index}
    profile: small
    bmc: {protocol: redfish}
YAML
  RUST_LOG=warn "$METAL_SIM" serve --fleet "$work/fleet.yaml" --control "127.0.0.1:$port_control" \
    --ironic "127.0.0.1:$port_ironic" >"$work/metal-sim.log" 2>&1 &
  pid=$!
  url="http://127.0.0.1:$port_ironic"
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null --max-time 1 "$url/v1" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  curl -fsS -o /dev/null --max-time 1 "$url/v1" || {
    echo "bench-ironic: the mock Ironic did not answer on $url within 30 s" >&2
    cat "$work/metal-sim.log" >&2
    exit 1
  }
  mock_env=(IRONIC_BENCH_MOCK_URL="$url")
  mock_kind="metal-sim serve --ironic (release)"
fi

out="$(env "${mock_env[@]}" timeout 900 cargo test -p metal-sim "${profile_args[@]}" --test ironic_bench -- \
  --ignored --nocapture --test-threads 1 2>&1)" || {
  echo "$out"
  exit 1
}
echo "$out" | grep -v '^IRONIC_BENCH '
line="$(grep '^IRONIC_BENCH ' <<<"$out" | tail -1)"
field() { grep -o " $1=[0-9.]*" <<<" $line" | cut -d= -f2; }
if [ -n "$line" ]; then
  bench_row "ironic: GET /v1/nodes req/s, $mock_kind" "$(field mock_rps)" "$(field real_rps) (real Ironic 39)" \
    "$(bench_ratio "$(field mock_rps)" "$(field real_rps)")" ""
  # Faster is smaller here: the ratio is real / mock.
  bench_row "ironic: one fake-hardware lifecycle (s)" "$(field mock_life_s)" "$(field real_life_s) (real Ironic 39)" \
    "$(bench_ratio "$(field real_life_s)" "$(field mock_life_s)") faster" ""
  bench_row "ironic: paged listing items/s, 1000 nodes + 5000 ports" "$(field mock_paged)" \
    "$(field real_paged) (real Ironic 39)" "$(bench_ratio "$(field mock_paged)" "$(field real_paged)")" ""
else
  echo "bench-ironic: real Ironic not installed or no figures; nothing to summarise" >&2
fi
