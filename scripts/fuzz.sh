#!/usr/bin/env bash
# `make fuzz`: every coverage-guided fuzz target (fuzz/, cargo-fuzz and libFuzzer) for a bounded
# time, on the stable toolchain (`-s none`: no sanitizer, which is what needs nightly; the
# coverage instrumentation libFuzzer steers by is stable rustc). Debug assertions are on, so an
# arithmetic overflow is a crash too.
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_RUNS      stop a target earlier, after this many executions (libFuzzer -runs; default: no
#                  count, only the time bound). A campaign: FUZZ_RUNS=10000000 FUZZ_SECONDS=3600
#   FUZZ_TARGETS   targets to run (default: all, from fuzz/Cargo.toml)
#   FUZZ_HOME      cache: the pinned cargo-fuzz, build, generated corpora, crash inputs
#                  (default ~/.cache/metal-fuzz; nothing generated is written into the repository)
#   FUZZ_TARGET_DIR   the build (default $FUZZ_HOME/target)
# Prints one line per target: executions, corpus size, crashes. Exits non-zero when a target
# crashed, naming the input (replay: cargo fuzz run -s none -a <target> <input>, or copy it to
# fuzz/regressions/<target>/ where the smoke test in `make test` replays it).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
FUZZ_HOME="${FUZZ_HOME:-$HOME/.cache/metal-fuzz}"
mkdir -p "$FUZZ_HOME"

bin="$FUZZ_HOME/tools/bin/cargo-fuzz"
if [ ! -x "$bin" ] || ! "$bin" fuzz --version 2>/dev/null | grep -q "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  start=$(date +%s)
  echo "fuzz: cargo-fuzz $CARGO_FUZZ_VERSION is missing; building it from crates.io (a minute or two, once)"
  cargo install --quiet --locked --root "$FUZZ_HOME/tools" cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
  echo "fuzz: cargo-fuzz built in $(( $(date +%s) - start )) s"
fi
export PATH="$FUZZ_HOME/tools/bin:$PATH"
# libFuzzer's runtime is C++ compiled by the libfuzzer-sys build script.
command -v c++ >/dev/null || { echo "fuzz: a C++ compiler (c++) is needed to build libFuzzer" >&2; exit 1; }

targets=(${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^metal-fuzz')})
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ_HOME/target}"
flags=(-s none -a)
runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then
  [[ "$FUZZ_RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_RUNS must be a positive count, not '$FUZZ_RUNS'" >&2; exit 2; }
  runs=(-runs="$FUZZ_RUNS")
fi

echo "fuzz: building ${#targets[@]} targets (stable toolchain, no sanitizer, debug assertions)"
(cd fuzz && cargo fuzz build "${flags[@]}")

status=0
for t in "${targets[@]}"; do
  corpus="$FUZZ_HOME/corpus/$t"
  artifacts="$FUZZ_HOME/artifacts/$t"
  log="$FUZZ_HOME/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  before=$(find "$artifacts" -type f | wc -l)
  # The first corpus folder takes what libFuzzer finds; the committed seeds are read only.
  set +e
  (cd fuzz && cargo fuzz run "${flags[@]}" "$t" "$corpus" "seeds/$t" -- \
    -max_total_time="$FUZZ_SECONDS" "${runs[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -artifact_prefix="$artifacts/" -print_final_stats=1) >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  seconds=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  printf 'fuzz: %-14s executions=%s corpus=%s crashes=%s seconds=%s\n' \
    "$t" "${execs:-?}" "$size" "$crashes" "${seconds:-$FUZZ_SECONDS}"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    echo "fuzz: $t failed (exit $rc); log $log; inputs:" >&2
    find "$artifacts" -type f -newer "$corpus" 2>/dev/null | sed 's/^/  /' >&2 || true
    grep -m3 -E "panicked at|ERROR: libFuzzer" "$log" | sed 's/^/  /' >&2 || true
  fi
done
exit "$status"
