#!/usr/bin/env bash
# Installs the real peer software our fakes are judged by, pinned, into a cache outside the checkout.
# Prints nothing but progress; writes $PEERS_HOME/peers.env, which tests and make targets source.
# Idempotent: a second run with everything present takes about a second.
set -euo pipefail

PEERS_HOME="${PEERS_HOME:-$HOME/.cache/metal-peers}"
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/peers-requirements.txt"
mkdir -p "$PEERS_HOME"

# 1. Debian packages: ipmitool, freeipmi (ipmipower), genisoimage (real Ironic builds config-drive ISOs
#    with it), wrk and hyperfine for benchmarks, OpenIPMI's ipmi_sim (a C BMC simulator, the IPMI
#    benchmark's second peer).
need_apt=()
for pair in ipmitool:ipmitool ipmipower:freeipmi-tools genisoimage:genisoimage wrk:wrk hyperfine:hyperfine \
  ipmi_sim:openipmi; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair##*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "peers: apt-get install ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "peers: WARNING cannot install ${need_apt[*]} (not root or no apt-get)" >&2
  fi
fi

# 2. Python peers in a venv keyed by the requirements file, so a change of pins builds a new one.
key=$(sha256sum "$req" | cut -c1-12)
venv="$PEERS_HOME/venv-$key"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "peers: creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip setuptools wheel
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  touch "$venv/.complete"
fi

# 3. The DSP8010 Redfish CSDL schemas the DMTF validator needs. It normally downloads them from a host
#    this machine cannot reach; the crates.io crate nv-redfish-schema ships the same files.
csdl="$PEERS_HOME/redfish-csdl"
if [ ! -f "$csdl/.complete" ]; then
  echo "peers: fetching Redfish CSDL schemas"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/p/src"
  cat > "$tmp/p/Cargo.toml" <<'TOML'
[package]
name = "csdl-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
nv-redfish-schema = "=0.22.1"
TOML
  : > "$tmp/p/src/lib.rs"
  (cd "$tmp/p" && CARGO_HOME="$tmp/home" cargo fetch -q)
  src=$(find "$tmp/home/registry/src" -maxdepth 2 -type d -name 'nv-redfish-schema-*' | head -1)
  rm -rf "$csdl"; mkdir -p "$csdl"
  cp "$src"/redfish-csdl/csdl/*.xml "$csdl/"
  rm -rf "$tmp"
  touch "$csdl/.complete"
fi

cat > "$PEERS_HOME/peers.env" <<ENV
export PEERS_VENV="$venv"
export PEERS_CSDL="$csdl"
export PATH="$venv/bin:\$PATH"
ENV
echo "peers: ready ($PEERS_HOME/peers.env)"
