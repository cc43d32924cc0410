#!/usr/bin/env bash
# IPMI benchmark: our fake BMC (`metal-sim serve`) against pyghmi's fake BMC (Python) and OpenIPMI's
# ipmi_sim (C, Debian package openipmi), same clients and the same command mix, one run.
#
#   full sessions/s  — one complete RMCP+ session per `power status` (open, RAKP 1-4, privilege,
#                      command, close): ipmitool (one process per session) and our Rust client
#   commands/s       — `power status` repeated inside one session: ipmitool `exec` and our client
#   xN               — the same with N concurrent Rust clients (IPMI_BENCH_CONCURRENCY, default 8),
#                      which measures the BMC rather than one client's round trip
#
# Cipher suite 3 everywhere (pyghmi's BMC offers nothing else). Every BMC listens on 127.0.0.1 only.
# A missing ipmi_sim is skipped loudly (its column reads "skipped"); run scripts/peers.sh to install it.
# Every loop is bounded in count (IPMI_BENCH_SESSIONS, IPMI_BENCH_COMMANDS for ipmitool;
# IPMI_BENCH_RUST_SESSIONS, IPMI_BENCH_RUST_COMMANDS for the faster Rust client, whose runs of a
# few hundred round trips were too short to measure anything but noise) and in time
# (IPMI_BENCH_SECONDS per measurement); the Rust client runs IPMI_BENCH_RUST_ROUNDS rounds (default
# 3, the BMCs alternating) and reports medians; every process started here is stopped by pid on exit.
# METAL_SIM_PROFILE=debug measures a debug build instead of release (quicker to build, slower).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source "${PEERS_HOME:-$HOME/.cache/metal-peers}/peers.env"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"

SESSIONS="${IPMI_BENCH_SESSIONS:-200}"
COMMANDS="${IPMI_BENCH_COMMANDS:-1000}"
RUST_SESSIONS="${IPMI_BENCH_RUST_SESSIONS:-2000}"
RUST_COMMANDS="${IPMI_BENCH_RUST_COMMANDS:-20000}"
SECONDS_CAP="${IPMI_BENCH_SECONDS:-20}"
CONCURRENCY="${IPMI_BENCH_CONCURRENCY:-8}"
RUST_ROUNDS="${IPMI_BENCH_RUST_ROUNDS:-3}"
PROFILE="${METAL_SIM_PROFILE:-release}"
OURS_PORT="${IPMI_BENCH_OURS_PORT:-36230}"
PEER_PORT="${IPMI_BENCH_PEER_PORT:-36231}"
SIM_PORT="${IPMI_BENCH_SIM_PORT:-36232}"
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

# --- OpenIPMI's ipmi_sim on 127.0.0.1:$SIM_PORT: one BMC (MC 0x20), user admin/password, RMCP+ ------
have_sim=1
if command -v ipmi_sim >/dev/null 2>&1; then
  mkdir -p "$tmp/ipmi_sim-state"
  cat >"$tmp/ipmi_sim-lan.conf" <<EOF
name "metal-bench"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $SIM_PORT
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid 5c0e768a7374b746b2e454b618ee314f
  endlan
  user 2 true "admin" "password" admin 16 md5
EOF
  cat >"$tmp/ipmi_sim-cmds" <<'EOF'
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
EOF
  ipmi_sim -c "$tmp/ipmi_sim-lan.conf" -f "$tmp/ipmi_sim-cmds" -s "$tmp/ipmi_sim-state" -n \
    </dev/null >"$tmp/ipmi_sim.log" 2>&1 &
  pids+=($!)
else
  have_sim=0
  echo "bench-ipmi: SKIPPING OpenIPMI's ipmi_sim: not installed (Debian package openipmi; run scripts/peers.sh)" >&2
fi

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
[ "$have_sim" = 0 ] || wait_ready "$SIM_PORT" "ipmi_sim"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { d = b - a; if (d <= 0) d = 1e-9; printf "%.1f", n / d }'; }

# Full ipmitool sessions, the BMCs alternating in rounds so that load from elsewhere on the machine
# falls on all alike. Arguments: the ports; prints "sessions/s failures" per port, in order.
ipmitool_sessions() {
  local rounds=5 per=$(((SESSIONS + 4) / 5)) r i port
  local -A n=() fail=() secs=()
  local t0 start
  for port in "$@"; do n[$port]=0; fail[$port]=0; secs[$port]=0; done
  t0="$(date +%s)"
  for r in $(seq 1 "$rounds"); do
    for port in "$@"; do
      start="$(now)"
      for i in $(seq 1 "$per"); do
        [ $(($(date +%s) - t0)) -lt $((SECONDS_CAP * $#)) ] || break
        if ipmi "$port" power status >/dev/null 2>&1; then
          n[$port]=$((n[$port] + 1))
        else
          fail[$port]=$((fail[$port] + 1))
        fi
      done
      secs[$port]="$(awk -v a="${secs[$port]}" -v s="$start" -v e="$(now)" 'BEGIN { printf "%.6f", a + e - s }')"
    done
  done
  for port in "$@"; do
    echo "$(rate "${n[$port]}" 0 "${secs[$port]}") ${fail[$port]}"
  done
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
  out="$(IPMI_BENCH_TARGET="127.0.0.1:$1" IPMI_BENCH_SESSIONS="$RUST_SESSIONS" IPMI_BENCH_COMMANDS="$RUST_COMMANDS" \
    IPMI_BENCH_SECONDS="$SECONDS_CAP" IPMI_BENCH_SUITE=3 IPMI_BENCH_CONCURRENCY="$CONCURRENCY" \
    timeout $((SECONDS_CAP * 4 + 10)) "$rust_bench" --ignored --exact bench_rust_client_sessions_and_commands --nocapture 2>&1 || true)"
  local field v line=""
  for field in sessions_per_s commands_per_s parallel_sessions_per_s parallel_commands_per_s; do
    v="$(grep -o " $field=[0-9.]*" <<<"$out" | cut -d= -f2 || true)"
    line="$line ${v:-0}"
  done
  echo "$line"
}

echo "measuring (ipmitool: up to $SESSIONS sessions / $COMMANDS commands; Rust client: up to $RUST_SESSIONS / $RUST_COMMANDS; at most ${SECONDS_CAP}s each)"
ports=("$OURS_PORT" "$PEER_PORT")
[ "$have_sim" = 0 ] || ports+=("$SIM_PORT")
mapfile -t it_sessions < <(ipmitool_sessions "${ports[@]}")
read -r ours_it_s ours_it_f <<<"${it_sessions[0]}"
read -r peer_it_s peer_it_f <<<"${it_sessions[1]}"
sim_it_s=skipped sim_it_f="" sim_it_c=skipped
sim_rs_s=skipped sim_rs_c=skipped sim_rp_s=skipped sim_rp_c=skipped
[ "$have_sim" = 0 ] || read -r sim_it_s sim_it_f <<<"${it_sessions[2]}"
ours_it_c="$(ipmitool_commands "$OURS_PORT")"
peer_it_c="$(ipmitool_commands "$PEER_PORT")"
[ "$have_sim" = 0 ] || sim_it_c="$(ipmitool_commands "$SIM_PORT")"
# The Rust client in RUST_ROUNDS rounds, the BMCs alternating within each round (like the ipmitool
# sessions above), so that a burst of load from elsewhere does not fall on one BMC's only run;
# each figure is the median of its rounds.
median_rounds() { # port -> the four figures, each the median over the rounds
  local port="$1" r
  for r in $(seq 1 "$RUST_ROUNDS"); do cat "$tmp/rust-$port-$r"; done |
    awk '{ for (i = 1; i <= 4; i++) v[i, NR] = $i }
         END { for (i = 1; i <= 4; i++) {
                 for (a = 1; a <= NR; a++) for (b = a + 1; b <= NR; b++)
                   if (v[i, b] + 0 < v[i, a] + 0) { t = v[i, a]; v[i, a] = v[i, b]; v[i, b] = t }
                 printf "%s%s", v[i, int((NR + 1) / 2)], (i < 4 ? " " : "\n") } }'
}
for r in $(seq 1 "$RUST_ROUNDS"); do
  for port in "${ports[@]}"; do
    rust_client "$port" >"$tmp/rust-$port-$r"
  done
done
read -r ours_rs_s ours_rs_c ours_rp_s ours_rp_c <<<"$(median_rounds "$OURS_PORT")"
read -r peer_rs_s peer_rs_c peer_rp_s peer_rp_c <<<"$(median_rounds "$PEER_PORT")"
[ "$have_sim" = 0 ] || read -r sim_rs_s sim_rs_c sim_rp_s sim_rp_c <<<"$(median_rounds "$SIM_PORT")"

r() { bench_ratio "$1" "$2"; }
row() { # measure ours pyghmi ipmi_sim
  printf '| %-34s | %10s | %10s | %10s | %9s | %9s |\n' "$1" "$2" "$3" "$4" "$(r "$2" "$3")" "$(r "$2" "$4")"
}
echo
echo "IPMI benchmark (cipher suite 3, sequential unless xN, 127.0.0.1; metal-sim $PROFILE build)"
printf '| %-34s | %10s | %10s | %10s | %9s | %9s |\n' "client / measure" "metal-sim" "pyghmi" "ipmi_sim" "/pyghmi" "/ipmi_sim"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------------" "------------" "------------" "------------" "-----------" "-----------"
row "ipmitool: full sessions/s" "$ours_it_s" "$peer_it_s" "$sim_it_s"
printf '| %-34s | %10s | %10s | %10s | %9s | %9s |\n' "ipmitool: failed sessions" "$ours_it_f" "$peer_it_f" "$sim_it_f" "" ""
row "ipmitool exec: commands/s" "$ours_it_c" "$peer_it_c" "$sim_it_c"
row "Rust client: full sessions/s" "$ours_rs_s" "$peer_rs_s" "$sim_rs_s"
row "Rust client: commands/s" "$ours_rs_c" "$peer_rs_c" "$sim_rs_c"
row "Rust client x$CONCURRENCY: full sessions/s" "$ours_rp_s" "$peer_rp_s" "$sim_rp_s"
row "Rust client x$CONCURRENCY: commands/s" "$ours_rp_c" "$peer_rp_c" "$sim_rp_c"

bench_row "ipmi: Rust client full sessions/s vs pyghmi" "$ours_rs_s" "$peer_rs_s" "$(r "$ours_rs_s" "$peer_rs_s")" ">= 10x"
bench_row "ipmi: Rust client commands/s vs pyghmi" "$ours_rs_c" "$peer_rs_c" "$(r "$ours_rs_c" "$peer_rs_c")" ">= 10x"
bench_row "ipmi: Rust client full sessions/s vs ipmi_sim" "$ours_rs_s" "$sim_rs_s" "$(r "$ours_rs_s" "$sim_rs_s")" ">= 1x"
bench_row "ipmi: Rust client commands/s vs ipmi_sim" "$ours_rs_c" "$sim_rs_c" "$(r "$ours_rs_c" "$sim_rs_c")" ">= 1x"
bench_row "ipmi: Rust x$CONCURRENCY commands/s vs ipmi_sim" "$ours_rp_c" "$sim_rp_c" "$(r "$ours_rp_c" "$sim_rp_c")" ">= 1x"
