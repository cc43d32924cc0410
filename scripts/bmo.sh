#!/usr/bin/env bash
# `make bmo`: builds upstream Metal3's baremetal-operator (BMO) from the Go modules pinned in
# judges/bmo/{go.mod,go.sum}, so that it can be run against our simulator and compared with our operator
# (docs/upstream-bmo.md says how it runs and how far it gets). Nothing in `make test` or `make e2e`
# depends on it. The binary and BMO's own CRDs go to $JUDGES_HOME/bmo-<version>-<key>/ (key: a hash of
# the pins and this script), so a change of pins builds anew and an unchanged tree costs a second.
# Writes $JUDGES_HOME/bmo.env (BMO_BIN, BMO_VERSION, BMO_CRDS, BMO_RBAC). Module and build caches stay under
# ~/.cache; nothing lands in the tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/judges/bmo"
pkg=github.com/metal3-io/baremetal-operator
JUDGES_HOME="${JUDGES_HOME:-$HOME/.cache/metal-judges}"
export GOMODCACHE="${GOMODCACHE:-$HOME/.cache/metal-go/mod}"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

command -v go >/dev/null || { echo "bmo: ERROR go is not installed (Go >= 1.26 builds BMO)" >&2; exit 2; }
version=$(awk -v m="$pkg" '$1 == m {print $2}' "$mod/go.mod")
[ -n "$version" ] || { echo "bmo: ERROR cannot read the pinned version of $pkg from $mod/go.mod" >&2; exit 2; }
key=$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-12)
out="$JUDGES_HOME/bmo-$version-$key"
mkdir -p "$JUDGES_HOME"

if [ -f "$out/.complete" ]; then
  echo "bmo: baremetal-operator $version cached in $out (warm: 0 s)"
else
  start=$(date +%s)
  echo "bmo: building baremetal-operator $version (a few minutes on 2 cores with a cold Go cache)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  log="$out.tmp/build.log"
  # The module's source (for its CRDs) and the release commit (for the version it logs at start),
  # which the proxy's .info file records.
  json=$(cd "$mod" && go mod download -json "$pkg" 2>>"$log") || true
  src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  info=$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p' <<<"$json")
  if [ -z "$src" ] || [ ! -d "$src" ]; then
    echo "bmo: ERROR cannot download $pkg@$version; the tail of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  commit=$(sed -n 's/.*"Hash":"\([0-9a-f]*\)".*/\1/p' "$info" 2>/dev/null || true)
  # What BMO logs as "Component" and "Git commit": the pinned release, like its own Makefile sets them.
  vpkg=$pkg/pkg/version
  ldflags="-s -w -X $vpkg.Raw=$version -X $vpkg.Commit=${commit:-unknown} -X $vpkg.BuildTime=1970-01-01T00:00:00Z"
  if ! (cd "$mod" && go build -ldflags "$ldflags" -o "$out.tmp/baremetal-operator" "$pkg") >>"$log" 2>&1; then
    echo "bmo: ERROR the Go build failed; the tail of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  # BMO's upstream CRDs, as its release ships them (kustomize bases; no webhook or CA-injection patches).
  crds="$src/config/base/crds/bases"
  ls "$crds"/*.yaml >/dev/null 2>&1 || { echo "bmo: ERROR no CRDs in $crds" >&2; exit 1; }
  mkdir -p "$out.tmp/crds" "$out.tmp/rbac"
  cp "$crds"/*.yaml "$out.tmp/crds/"
  # Its manager ClusterRole, so it can run under a ServiceAccount with exactly upstream's grants.
  role="$src/config/base/rbac/role.yaml"
  [ -f "$role" ] || { echo "bmo: ERROR no ClusterRole at $role" >&2; exit 1; }
  cp "$role" "$out.tmp/rbac/role.yaml"
  chmod -R u+w "$out.tmp/crds" "$out.tmp/rbac"
  rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.complete"
  echo "bmo: built in $(( $(date +%s) - start )) s into $out (Go build cache: $GOCACHE)"
fi
# BMO has no version flag: a bad binary shows here as a failure to print its usage.
"$out/baremetal-operator" -h 2>&1 | grep -q -- '-webhook-port' \
  || { echo "bmo: ERROR $out/baremetal-operator -h does not list its flags" >&2; exit 1; }
cat > "$JUDGES_HOME/bmo.env" <<ENV
export BMO_BIN="$out/baremetal-operator"
export BMO_VERSION="$version"
export BMO_CRDS="$out/crds"
export BMO_RBAC="$out/rbac/role.yaml"
ENV
echo "bmo: baremetal-operator $version, $(ls "$out/crds" | wc -l) CRDs; ready ($JUDGES_HOME/bmo.env)"
