#!/usr/bin/env bash
# The scenario library in wire mode: every library scenario that runs on the wire, played one after
# the other by the release `metal-sim run` (the real operator, the embedded control plane, the mock
# Ironic, the fake agents and BMCs, all over loopback). Prints each scenario's verdict and wall time
# and the total next to the target (issue 13: under 3 minutes); nothing is asserted. Bounded: the
# run is interrupted after TIMEOUT seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
limit="${TIMEOUT:-900}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
bin="$CARGO_TARGET_DIR/release/metal-sim"
cargo build --release -q -p metal-wire --bins  # a no-op when fresh; never a stale binary

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-library.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The scenarios that run on the wire (`--check` lists each file's modes; engine-only ones are left out).
mapfile -t wire_scenarios < <("$bin" run --check scenarios/*.yaml --out "$work/check" |
  sed -n 's/^\([^:]*\.yaml\): .*modes [a-z,]*wire.*$/\1/p')
echo "wire mode: the scenario library, ${#wire_scenarios[@]} scenarios one after the other (timeout ${limit}s)"
start=$(date +%s.%N)
set +e
timeout --signal=INT --kill-after=30 "$limit" "$bin" run "${wire_scenarios[@]}" --out "$work/out" \
  >"$work/run.log" 2>"$work/run.err"
rc=$?
set -e
end=$(date +%s.%N)
wall=$(echo "$end - $start" | bc -l)
# Each run's own length: the last instant of its trace.
per_run_py='
import json, os, sys
for d in sorted(os.listdir(sys.argv[1])):
    last = 0
    for line in open(os.path.join(sys.argv[1], d, "trace.jsonl")):
        last = max(last, json.loads(line).get("t", 0))
    print(f"{last / 1e9:8.1f} s  {d}")
'
[ -d "$work/out" ] && python3 -c "$per_run_py" "$work/out" | sort -rn
played=$(grep -cE "\(seed [0-9]+, wire mode\): (PASSED|FAILED)" "$work/run.log" || true)
passed=$(grep -cE "\(seed [0-9]+, wire mode\): PASSED" "$work/run.log" || true)
if [ "$rc" -ne 0 ]; then
  echo "metal-sim run exited $rc"
  grep -E "FAILED|rerun" "$work/run.log" | head -20 || true
  tail -20 "$work/run.err" >&2 || true
fi
printf '%-52s %11.1fs  (%s of %s passed)\n' "metal-sim wire mode, the scenario library" "$wall" "$passed" "$played"
printf '%-52s %12s\n' "target (issue 13)" "< 180 s"
bench_row "wire: scenario library, $played scenarios in turn" \
  "$(printf '%.1f s (%s/%s passed)' "$wall" "$passed" "$played")" "" "" "< 180 s"
exit "$rc"
