#!/usr/bin/env bash
# IPMI benchmark: our fake BMC (`metal-sim serve`) against pyghmi's fake BMC, same clients, one run.
#
#   full sessions/s  — one complete RMCP+ session per `power status` (open, RAKP 1-4, privilege,
#                      command, close): ipmitool (one process per session) and our Rust client
#   commands/s       — `power status` repeated inside one session: ipmitool `exec` and our client
#   xN               — the same with N concurrent Rust clients (IPMI_BENCH_CONCURRENCY, default 8),
#                      which measures the BMC rather than one client's round trip
#
# Cipher suite 3 everywhere (pyghmi's BMC offers nothing else). Both BMCs listen on 127.0.0.1 only.
# Every loop is bounded in count (IPMI_BENCH_SESSIONS, IPMI_BENCH_COMMANDS) and in time
# (IPMI_BENCH_SECONDS per measurement); every process started here is stopped by pid on exit.
# METAL_SIM_PROFILE=debug measures a debug build instead of release (quicker to build, slower).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source "${PEERS_HOME:-$HOME/.cache/metal-peers}/peers.env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"

SESSIONS="${IPMI_BENCH_SESSIONS:-200}"
COMMANDS="${IPMI_BENCH_COMMANDS:-1000}"
SECONDS_CAP="${IPMI_BENCH_SECONDS:-20}"
CONCURRENCY="${IPMI_BENCH_CONCURRENCY:-8}"
PROFILE="${METAL_SIM_PROFILE:-release}"
OURS_PORT="${IPMI_BENCH_OURS_PORT:-36230}"
PEER_PORT="${IPMI_BENCH_PEER_PORT:-36231}"
CONTROL_PORT="${IPMI_BENCH_CONTROL_PORT:-36299}"

profile_flag=()
[ "$PROFILE" = release ] && profile_flag=(--release)

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "building metal-sim ($PROFILE) and the Rust bench client"
cargo build "${profile_flag[@]}" -q -p metal-wire --bin metal-sim
sim="$CARGO_TARGET_DIR/$PROFILE/metal-sim"
rust_bench="$(cargo test "${profile_flag[@]}" -q -p metal-sim --test ipmi_bench --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.target.name == "ipmi_bench" and .executable != null) | .executable' | tail -1)"
[ -x "$rust_bench" ] || { echo "cannot find the ipmi_bench test binary" >&2; exit 1; }

# --- our BMC: one IPMI host on 127.0.0.1:$OURS_PORT -------------------------------------------
cat >"$tmp/fleet.yaml" <<EOF
seed: 1
time_scale: 0.01
layout: {mode: single-address, base: 127.0.0.1, ipmi_port: $OURS_PORT}
groups:
  - name: bench-ipmi-{index}
    profile: small
    bmc: {protocol: ipmi, username: admin, password: password}
EOF
"$sim" serve --fleet "$tmp/fleet.yaml" --control "127.0.0.1:$CONTROL_PORT" >"$tmp/ours.log" 2>&1 &
pids+=($!)

# --- pyghmi's fake BMC on 127.0.0.1:$PEER_PORT (its default would bind every interface) --------
cat >"$tmp/pyghmi_bmc.py" <<'EOF'
import sys
import uuid

import pyghmi.ipmi.bmc as bmc


class BenchBmc(bmc.Bmc):
    def __init__(self, authdata, port, address):
        super().__init__(authdata, port=port, address=address)
        self.powerstate = 'off'
        self.bootdevice = 'default'
        self.guid = uuid.UUID('5c0e768a-7374-b746-b2e4-54b618ee314f')

    def get_system_guid(self):
        return self.guid

    def get_power_state(self):
        return self.powerstate

    def power_on(self):
        self.powerstate = 'on'

    def power_off(self):
        self.powerstate = 'off'

    def power_shutdown(self):
        self.powerstate = 'off'

    def power_reset(self):
        pass

    def get_boot_device(self):
        return self.bootdevice

    def set_boot_device(self, bootdevice):
        self.bootdevice = bootdevice


BenchBmc({'admin': 'password'}, port=int(sys.argv[1]), address='127.0.0.1').listen()
EOF
python "$tmp/pyghmi_bmc.py" "$PEER_PORT" >"$tmp/pyghmi.log" 2>&1 &
pids+=($!)

ipmi() { # port, then ipmitool arguments
  local port="$1"
  shift
  ipmitool -I lanplus -H 127.0.0.1 -p "$port" -U admin -P password -C 3 -N 2 -R 1 "$@"
}

wait_ready() { # port, name
  for _ in $(seq 1 100); do
    if ipmi "$1" power status >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "$2 did not answer on 127.0.0.1:$1" >&2
  cat "$tmp"/*.log >&2
  exit 1
}
wait_ready "$OURS_PORT" "metal-sim"
wait_ready "$PEER_PORT" "pyghmi fake BMC"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = b - a; if (d <= 0) d = 1e-9; printf "%.1f", n / d }'; }

# Full ipmitool sessions, ours and the peer's alternating in rounds so that load from elsewhere on
# the machine falls on both alike. Prints "ours/s peer/s ours-failures peer-failures".
ipmitool_sessions() {
  local rounds=5 per=$(((SESSIONS + 4) / 5)) r i port
  local -A n=([ours]=0 [peer]=0) fail=([ours]=0 [peer]=0) secs=([ours]=0 [peer]=0)
  local t0 start
  t0="$(date +%s)"
  for r in $(seq 1 "$rounds"); do
    for who in ours peer; do
      port="$OURS_PORT"
      [ "$who" = peer ] && port="$PEER_PORT"
      start="$(now)"
      for i in $(seq 1 "$per"); do
        [ $(($(date +%s) - t0)) -lt $((SECONDS_CAP * 2)) ] || break
        if ipmi "$port" power status >/dev/null 2>&1; then
          n[$who]=$((n[$who] + 1))
        else
          fail[$who]=$((fail[$who] + 1))
        fi
      done
      secs[$who]="$(awk -v a="${secs[$who]}" -v s="$start" -v e="$(now)" 'BEGIN { printf "%.6f", a + e - s }')"
    done
  done
  echo "$(rate "${n[ours]}" 0 "${secs[ours]}") $(rate "${n[peer]}" 0 "${secs[peer]}") ${fail[ours]} ${fail[peer]}"
}

for _ in $(seq 1 "$COMMANDS"); do echo "power status"; done >"$tmp/commands.txt"
ipmitool_commands() { # port -> commands/s (one session, `exec` of COMMANDS lines)
  local start out n
  start="$(now)"
  out="$(timeout "$SECONDS_CAP" bash -c 'ipmitool -I lanplus -H 127.0.0.1 -p "$0" -U admin -P password -C 3 -N 2 -R 1 exec "$1"' "$1" "$tmp/commands.txt" || true)"
  n="$(grep -c "Chassis Power is" <<<"$out" || true)"
  rate "$n" "$start" "$(now)"
}

rust_client() { # port -> "sessions/s commands/s parallel-sessions/s parallel-commands/s"
  local out
  out="$(IPMI_BENCH_TARGET="127.0.0.1:$1" IPMI_BENCH_SESSIONS="$SESSIONS" IPMI_BENCH_COMMANDS="$COMMANDS" \
    IPMI_BENCH_SECONDS="$SECONDS_CAP" IPMI_BENCH_SUITE=3 IPMI_BENCH_CONCURRENCY="$CONCURRENCY" \
    timeout $((SECONDS_CAP * 3)) "$rust_bench" --ignored --exact bench_rust_client_sessions_and_commands --nocapture 2>&1 || true)"
  local field v line=""
  for field in sessions_per_s commands_per_s parallel_sessions_per_s parallel_commands_per_s; do
    v="$(grep -o " $field=[0-9.]*" <<<"$out" | cut -d= -f2 || true)"
    line="$line ${v:-0}"
  done
  echo "$line"
}

echo "measuring (up to $SESSIONS sessions / $COMMANDS commands, at most ${SECONDS_CAP}s each)"
read -r ours_it_s peer_it_s ours_it_f peer_it_f <<<"$(ipmitool_sessions)"
ours_it_c="$(ipmitool_commands "$OURS_PORT")"
peer_it_c="$(ipmitool_commands "$PEER_PORT")"
read -r ours_rs_s ours_rs_c ours_rp_s ours_rp_c <<<"$(rust_client "$OURS_PORT")"
read -r peer_rs_s peer_rs_c peer_rp_s peer_rp_c <<<"$(rust_client "$PEER_PORT")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "n/a"; else printf "%.1fx", a / b }'; }
echo
echo "IPMI benchmark (cipher suite 3, sequential, 127.0.0.1; metal-sim $PROFILE build)"
printf '| %-34s | %12s | %12s | %8s |\n' "client / measure" "metal-sim" "pyghmi BMC" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------------------------" "--------------" "--------------" "----------"
printf '| %-34s | %12s | %12s | %8s |\n' "ipmitool: full sessions/s" "$ours_it_s" "$peer_it_s" "$(ratio "$ours_it_s" "$peer_it_s")"
printf '| %-34s | %12s | %12s | %8s |\n' "ipmitool: failed sessions" "$ours_it_f" "$peer_it_f" ""
printf '| %-34s | %12s | %12s | %8s |\n' "ipmitool exec: commands/s" "$ours_it_c" "$peer_it_c" "$(ratio "$ours_it_c" "$peer_it_c")"
printf '| %-34s | %12s | %12s | %8s |\n' "Rust client: full sessions/s" "$ours_rs_s" "$peer_rs_s" "$(ratio "$ours_rs_s" "$peer_rs_s")"
printf '| %-34s | %12s | %12s | %8s |\n' "Rust client: commands/s" "$ours_rs_c" "$peer_rs_c" "$(ratio "$ours_rs_c" "$peer_rs_c")"
printf '| %-34s | %12s | %12s | %8s |\n' "Rust client x$CONCURRENCY: full sessions/s" "$ours_rp_s" "$peer_rp_s" "$(ratio "$ours_rp_s" "$peer_rp_s")"
printf '| %-34s | %12s | %12s | %8s |\n' "Rust client x$CONCURRENCY: commands/s" "$ours_rp_c" "$peer_rp_c" "$(ratio "$ours_rp_c" "$peer_rp_c")"
