#!/usr/bin/env bash
# Checks the Rust toolchain `make test` relies on and installs what a new machine lacks, loudly.
#   - rustfmt and clippy: rustup components (`make lint`).
#   - cargo-nextest, pinned: the suite runs one process per test (tests set process-wide state such as
#     environment variables and tokio runtimes, and were never written to share a process); built from
#     crates.io into $TOOLS_HOME (cached), never replaced by a silent `cargo test` fallback.
# Writes $TOOLS_HOME/tools.env, which the Makefile sources (PATH).
set -euo pipefail
NEXTEST_VERSION=0.9.151
TOOLS_HOME="${TOOLS_HOME:-$HOME/.cache/metal-tools}"
mkdir -p "$TOOLS_HOME"

for comp in rustfmt clippy; do
  if ! cargo "$( [ $comp = rustfmt ] && echo fmt || echo clippy )" --version >/dev/null 2>&1; then
    echo "toolchain: $comp missing; rustup component add $comp"
    rustup component add "$comp"
  fi
done

bin="$TOOLS_HOME/bin/cargo-nextest"
if [ ! -x "$bin" ] || ! "$bin" nextest --version 2>/dev/null | grep -q "cargo-nextest $NEXTEST_VERSION"; then
  start=$(date +%s)
  echo "toolchain: cargo-nextest $NEXTEST_VERSION is missing; building it from crates.io (a few minutes, once)"
  cargo install --quiet --locked --root "$TOOLS_HOME" cargo-nextest --version "=$NEXTEST_VERSION"
  echo "toolchain: cargo-nextest built in $(( $(date +%s) - start )) s"
fi
cat > "$TOOLS_HOME/tools.env" <<ENV
export PATH="$TOOLS_HOME/bin:\$PATH"
ENV
says=$(PATH="$TOOLS_HOME/bin:$PATH" cargo nextest --version)
echo "${says%%$'\n'*}"
echo "toolchain: ready ($TOOLS_HOME/tools.env)"
