#!/usr/bin/env bash
# Redfish GET throughput, side by side in one run, each hit with `wrk -t1 -c8 -d10s --latency` on
# GET /redfish/v1/Systems/<id>, all on loopback:
#   - metal-sim's fake BMC (a small single-address fleet, release build);
#   - the physical anchor: simulator/examples/redfish_anchor.rs, a minimal hyper 1.x server answering
#     every request with the exact bytes (body and headers) our fake returned for that System,
#     fetched once just before — what this machine and wrk allow for that response;
#   - sushy-tools' sushy-emulator with its fake driver.
# Prints req/s, p50 and the ratios (ours/anchor, target >= 0.5; ours/sushy-tools).
#
# Bounded: every wait has a deadline, wrk runs for DURATION, the anchor exits by itself after 600 s,
# and an EXIT trap stops every server started here.
# Environment: DURATION (default 10s), METAL_SIM and ANCHOR (built binaries; default: release builds),
# CARGO_TARGET_DIR, PEERS_HOME.
set -euo pipefail

DURATION="${DURATION:-10s}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_HOME="${PEERS_HOME:-$HOME/.cache/metal-peers}"
# shellcheck disable=SC1091
source "$PEERS_HOME/peers.env"
# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"

for tool in wrk curl jq sushy-emulator python3; do
  command -v "$tool" >/dev/null || { echo "bench-redfish: $tool not found (run make peers)" >&2; exit 1; }
done

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Free loopback ports, chosen by the kernel.
read -r PORT_OURS PORT_SUSHY PORT_CONTROL PORT_IPMI PORT_ANCHOR < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
PY
)

# --- ours -------------------------------------------------------------------------------------
if [ -z "${METAL_SIM:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
  echo "bench-redfish: building metal-sim (release)…" >&2
  (cd "$ROOT" && timeout 1800 cargo build -q --release -p metal-wire --bin metal-sim)
  METAL_SIM="$CARGO_TARGET_DIR/release/metal-sim"
fi
if [ -z "${ANCHOR:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
  echo "bench-redfish: building the anchor server (release)…" >&2
  (cd "$ROOT" && timeout 1800 cargo build -q --release -p metal-sim --example redfish_anchor)
  ANCHOR="$CARGO_TARGET_DIR/release/examples/redfish_anchor"
fi

cat > "$WORK/fleet.yaml" <<YAML
seed: 42
time_scale: 0.01
layout:
  mode: single-address
  base: 127.0.0.1
  redfish_port: $PORT_OURS
  ipmi_port: $PORT_IPMI
groups:
  - name: bench-{index:02}
    count: 4
    profile: compute
    bmc: {protocol: redfish}
YAML

RUST_LOG=warn "$METAL_SIM" serve --fleet "$WORK/fleet.yaml" --endpoints "$WORK/endpoints.json" \
  --control "127.0.0.1:$PORT_CONTROL" >"$WORK/metal-sim.log" 2>&1 &
PIDS+=($!)

# --- sushy-tools (fake driver, four systems) ---------------------------------------------------
mkdir -p "$WORK/sushy-state"
cat > "$WORK/sushy.conf" <<PY
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = $PORT_SUSHY
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = '$WORK/sushy-state'
SUSHY_EMULATOR_FAKE_SYSTEMS = [
    {'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef09%d' % i, 'name': 'fake-%d' % i,
     'power_state': 'Off', 'external_notifier': False,
     'nics': [{'mac': '00:5c:52:31:3a:9%d' % i, 'ip': '172.22.0.10%d' % i}]}
    for i in range(4)
]
PY
sushy-emulator --config "$WORK/sushy.conf" -i 127.0.0.1 -p "$PORT_SUSHY" --fake >"$WORK/sushy.log" 2>&1 &
PIDS+=($!)

wait_for() { # url [auth]
  local url="$1" auth="${2:-}"
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null ${auth:+-u "$auth"} --max-time 1 "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "bench-redfish: $url did not come up within 30 s" >&2
  return 1
}

for _ in $(seq 1 150); do [ -s "$WORK/endpoints.json" ] && break; sleep 0.2; done
[ -s "$WORK/endpoints.json" ] || { echo "bench-redfish: metal-sim wrote no endpoints" >&2; cat "$WORK/metal-sim.log" >&2; exit 1; }
ADDRESS="$(jq -r '[.bmcs[] | select(.protocol | startswith("redfish"))][0].address' "$WORK/endpoints.json")"
USERNAME="$(jq -r '[.bmcs[] | select(.protocol | startswith("redfish"))][0].username' "$WORK/endpoints.json")"
PASSWORD="$(jq -r '[.bmcs[] | select(.protocol | startswith("redfish"))][0].password' "$WORK/endpoints.json")"
OURS_URL="http://${ADDRESS#*://}"
SUSHY_ID="$(python3 -c "print('27946b59-9e44-4fa7-8e91-f3527a1ef090')")"
SUSHY_URL="http://127.0.0.1:$PORT_SUSHY/redfish/v1/Systems/$SUSHY_ID"
AUTH="Authorization: Basic $(printf '%s:%s' "$USERNAME" "$PASSWORD" | base64 -w0)"

wait_for "$OURS_URL" "$USERNAME:$PASSWORD"
wait_for "$SUSHY_URL"

# --- the anchor: the bytes our fake returns for this System, served by a minimal hyper server ---
curl -fsS -u "$USERNAME:$PASSWORD" -D "$WORK/anchor-headers.txt" -o "$WORK/anchor-body" "$OURS_URL"
"$ANCHOR" --listen "127.0.0.1:$PORT_ANCHOR" --body "$WORK/anchor-body" \
  --headers "$WORK/anchor-headers.txt" --max-seconds 600 >"$WORK/anchor.log" 2>&1 &
PIDS+=($!)
ANCHOR_URL="http://127.0.0.1:$PORT_ANCHOR/${OURS_URL#http://*/}"
wait_for "$ANCHOR_URL"
cmp -s "$WORK/anchor-body" <(curl -fsS "$ANCHOR_URL") ||
  { echo "bench-redfish: the anchor does not return our fake's bytes" >&2; exit 1; }

run_wrk() { # name url -> "req/s p50"
  local out
  out="$(wrk -t1 -c8 -d"$DURATION" --latency -H "$AUTH" "$2")"
  echo "$out" > "$WORK/wrk-$1.txt"
  local rps p50
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  local non2xx
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  if [ -n "$non2xx" ]; then echo "bench-redfish: $1 answered $non2xx non-2xx responses" >&2; exit 1; fi
  echo "$rps $p50"
}

read -r OURS_RPS OURS_P50 < <(run_wrk metal-sim "$OURS_URL")
read -r ANCHOR_RPS ANCHOR_P50 < <(run_wrk anchor "$ANCHOR_URL")
read -r SUSHY_RPS SUSHY_P50 < <(run_wrk sushy-tools "$SUSHY_URL")
RATIO="$(bench_ratio "$OURS_RPS" "$SUSHY_RPS")"
RATIO_ANCHOR="$(bench_ratio "$OURS_RPS" "$ANCHOR_RPS")"

echo
echo "Redfish GET /redfish/v1/Systems/<id>, wrk -t1 -c8 -d$DURATION, loopback"
printf '| %-36s | %12s | %10s |\n' "server" "req/s" "p50"
printf '|%s|%s|%s|\n' "--------------------------------------" "--------------" "------------"
printf '| %-36s | %12s | %10s |\n' "metal-sim (4 systems, auth)" "$OURS_RPS" "$OURS_P50"
printf '| %-36s | %12s | %10s |\n' "anchor: minimal hyper, same bytes" "$ANCHOR_RPS" "$ANCHOR_P50"
printf '| %-36s | %12s | %10s |\n' "sushy-tools fake driver" "$SUSHY_RPS" "$SUSHY_P50"
echo "metal-sim / anchor: $RATIO_ANCHOR (target >= 0.5x); metal-sim / sushy-tools: $RATIO (target >= 20x)"
bench_row "redfish: GET System req/s vs minimal hyper (same bytes)" "$OURS_RPS" "$ANCHOR_RPS" "$RATIO_ANCHOR" ">= 0.5x"
bench_row "redfish: GET System req/s vs sushy-tools (fake driver)" "$OURS_RPS" "$SUSHY_RPS" "$RATIO" ">= 20x"
