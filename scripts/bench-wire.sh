#!/usr/bin/env bash
# Wire mode at fleet scale: HOSTS (default 1 000) Redfish hosts through register → inspect →
# available → provisioned → deprovisioned → available with `metal-sim run` — the real operator,
# the embedded control plane, the mock Ironic, the fake agents and the BMCs, all over loopback
# (single-address layout on 127.0.59.1), machine transitions at maximum speed (time_scale 0).
# Prints wall time, hosts per minute, per-phase p50/p95 and peak RSS next to the upstream anchors;
# nothing is asserted. Bounded: the run is killed after TIMEOUT seconds (default 1200).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
hosts="${1:-1000}"
limit="${TIMEOUT:-1200}"
case "$hosts" in
  ''|*[!0-9]*|0) echo "usage: $0 [HOSTS]   (1..100000)" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
bin="$CARGO_TARGET_DIR/release/metal-sim"
cargo build --release -q -p metal-wire --bins  # a no-op when fresh; never a stale binary
# Every BMC shares one listener, but the operator, the control plane's watches, the mock Ironic and
# the fake agents hold connections per host: raise the descriptor limit as far as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-wire.XXXXXX")
trap 'rm -rf "$work"' EXIT
scenario="$work/wire-$hosts-hosts.yaml"
sed -e "s/^\(      count:\) 1000$/\1 $hosts/" \
    -e "s/^\(  provisioning_limit:\) 1000$/\1 $hosts/" \
    scenarios/bench/wire-1000-hosts.yaml >"$scenario"
grep -q "count: $hosts\$" "$scenario" || { echo "could not set the host count" >&2; exit 2; }

echo "wire mode: $hosts hosts, register → inspect → available → provisioned → deprovisioned → available"
echo "  (ulimit -n $(ulimit -n), timeout ${limit}s, log $work/run.log kept on failure)"
start=$(date +%s.%N)
set +e
timeout --signal=INT --kill-after=30 "$limit" /usr/bin/time -f '%M' -o "$work/rss" \
  "$bin" run "$scenario" --out "$work/out" >"$work/run.log" 2>"$work/run.err"
rc=$?
set -e
end=$(date +%s.%N)
wall=$(echo "$end - $start" | bc -l)
summary=$(find "$work/out" -name summary.txt 2>/dev/null | head -1)
verdict=$( [ -n "$summary" ] && head -1 "$summary" || echo "no summary")
rss_kib=$(tail -1 "$work/rss" 2>/dev/null || echo 0)

if [ "$rc" -ne 0 ]; then
  echo "metal-sim run exited $rc ($([ "$rc" -eq 124 ] && echo "timed out after ${limit}s" || echo "see below"))"
  tail -20 "$work/run.err" >&2 || true
  grep -E 'FAIL|rerun' "$work/run.log" | head -20 || true
  keep="${TMPDIR:-/tmp}/bench-wire-failed-$$"
  cp -r "$work" "$keep" && echo "outputs kept in $keep"
fi
[ -n "$summary" ] && sed -n '1,40p' "$summary"
# Milestones from the trace: a step starts when the wait before it held (times since the run began).
trace=$(find "$work/out" -name trace.jsonl 2>/dev/null | head -1)
milestones_py='
import json, sys
steps, last = {}, 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    last = max(last, r.get("t", 0))
    if r.get("kind") == "step":
        steps[r["index"]] = r["t"] / 1e9
print(f"{steps.get(2, 0):.1f} {steps.get(4, 0):.1f} {last / 1e9:.1f}")
'
milestones=""
[ -n "$trace" ] && milestones=$(python3 -c "$milestones_py" "$trace" 2>/dev/null || true)
read -r t_available t_provisioned t_end <<<"${milestones:-0 0 0}"
echo
echo "milestones (s since start): all available ${t_available}, all provisioned ${t_provisioned}, trace ends ${t_end}"
printf '%-52s %12s %14s\n' "run" "wall time" "hosts/min"
printf '%-52s %11.1fs %14.1f\n' "metal-sim wire mode, $hosts hosts, full lifecycle" "$wall" \
  "$(echo "$hosts * 60 / $wall" | bc -l)"
if [ "${t_available%.*}" -gt 0 ] 2>/dev/null; then
  printf '%-52s %11.1fs %14.1f\n' "metal-sim wire mode, $hosts hosts enrolled (→ available)" "$t_available" \
    "$(echo "$hosts * 60 / $t_available" | bc -l)"
fi
printf '%-52s %12s %14s\n' "Metal3 1000 fake nodes (upstream anchor)" "≈ 48 h" "≈ 0.35"
printf '%-52s %12s %14s\n' "BMO scale test, 800 hosts enrolled (upstream anchor)" "328 s" "146"
printf '%-52s %12s\n' "target (issue 13, 1 000 hosts)" "< 30 s"
echo "peak RSS of metal-sim run: $((rss_kib / 1024)) MiB; verdict: $verdict"
target="< 30 s (1 000 hosts)"
[ "$hosts" -eq 1 ] && target="< 3 s (one host, time scale 0)"
bench_row "wire: $hosts hosts, full lifecycle (wall)" "$(printf '%.1f s' "$wall")" "" "" "$target"
if [ "${t_available%.*}" -gt 0 ] 2>/dev/null; then
  # Enrolment rate against BMO's quoted scale test (800 hosts in 328 s = 146 hosts/min).
  per_min=$(echo "$hosts * 60 / $t_available" | bc -l)
  bench_row "wire: $hosts hosts enrolled, hosts/min" "$(printf '%.0f (%.1f s)' "$per_min" "$t_available")" \
    "146 (BMO 800 in 328 s, quoted)" "$(bench_ratio "$per_min" 146)" ""
fi
bench_row "wire: peak RSS of metal-sim run" "$((rss_kib / 1024)) MiB" "" "" ""
exit "$rc"
