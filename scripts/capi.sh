#!/usr/bin/env bash
# `make capi`: builds Cluster API core (the manager of sigs.k8s.io/cluster-api) and its Metal3
# infrastructure provider CAPM3 from the Go modules pinned in judges/capi/{go.mod,go.sum}, for seed 2's
# MachineSet flow (tests/seed_two_capi.rs, docs/capi.md). The binaries, their CRDs, their webhook
# configurations and their manager ClusterRoles go to $JUDGES_HOME/capi-<versions>-<key>/ (key: a hash of
# the pins and this script); writes $JUDGES_HOME/capi.env (CAPI_BIN, CAPM3_BIN, CAPI_DIR, CAPI_VERSION,
# CAPM3_VERSION). Module and build caches stay under ~/.cache; nothing lands in the tree.
#
# One change to upstream, made at build time: both managers create their webhook server without a host, so
# it would listen on every interface, and neither has a flag for it. The build copies both modules' source
# out of the module cache into a scratch directory, adds `Host: "127.0.0.1"` to each main.go's
# webhook.Options (failing if that text is not found exactly once), and builds from a scratch copy of the
# pinned wrapper module that replaces the two modules with those copies; the scratch directory is deleted
# after the build and nothing lands in the tree. Every other listener has a flag.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/judges/capi"
capi=sigs.k8s.io/cluster-api
capm3=github.com/metal3-io/cluster-api-provider-metal3
JUDGES_HOME="${JUDGES_HOME:-$HOME/.cache/metal-judges}"
export GOMODCACHE="${GOMODCACHE:-$HOME/.cache/metal-go/mod}"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

command -v go >/dev/null || { echo "capi: ERROR go is not installed (Go >= 1.26 builds Cluster API)" >&2; exit 2; }
capi_version=$(awk -v m="$capi" '$1 == m && $2 ~ /^v/ {print $2}' "$mod/go.mod")
capm3_version=$(awk -v m="$capm3" '$1 == m && $2 ~ /^v/ {print $2}' "$mod/go.mod")
[ -n "$capi_version" ] && [ -n "$capm3_version" ] \
  || { echo "capi: ERROR cannot read the pinned versions of $capi and $capm3 from $mod/go.mod" >&2; exit 2; }
key=$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-12)
out="$JUDGES_HOME/capi-$capi_version-capm3-$capm3_version-$key"
mkdir -p "$JUDGES_HOME"

# The module's source directory, downloaded into the module cache if need be.
source_of() {
  local json dir
  json=$(cd "$mod" && go mod download -json "$1" 2>>"$log") || true
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "capi: ERROR cannot download $1; the tail of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "$dir"
}

# Copies module source $1 to $2 and binds its webhook server to loopback.
loopback_copy() {
  local n
  cp -r "$1" "$2"; chmod -R u+w "$2"
  n=$(grep -c 'webhook\.Options{$' "$2/main.go" || true)
  [ "$n" = 1 ] || { echo "capi: ERROR $1/main.go has $n 'webhook.Options{' lines, expected 1: the loopback edit needs a new look" >&2; exit 1; }
  sed -i 's/webhook\.Options{$/webhook.Options{ Host: "127.0.0.1",/' "$2/main.go"
  grep -q 'Host: "127.0.0.1",' "$2/main.go" || { echo "capi: ERROR the loopback edit of $2/main.go did not apply" >&2; exit 1; }
}

if [ -f "$out/.complete" ]; then
  echo "capi: Cluster API $capi_version and CAPM3 $capm3_version cached in $out (warm: 0 s)"
else
  start=$(date +%s)
  echo "capi: building Cluster API $capi_version and CAPM3 $capm3_version (a few minutes on 2 cores with a cold Go cache)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp/scratch/wrapper"
  log="$out.tmp/build.log"; : > "$log"
  capi_src=$(source_of "$capi@$capi_version")
  capm3_src=$(source_of "$capm3@$capm3_version")
  scratch="$out.tmp/scratch"
  loopback_copy "$capi_src" "$scratch/cluster-api"
  loopback_copy "$capm3_src" "$scratch/capm3"
  cp "$mod/go.mod" "$mod/go.sum" "$scratch/wrapper/"
  (cd "$scratch/wrapper" && go mod edit -replace "$capi=../cluster-api" -replace "$capm3=../capm3")
  # What each logs as its version, like Cluster API's Makefile sets it (CAPM3 reports Cluster API's
  # version package).
  vpkg=sigs.k8s.io/cluster-api/version
  ldflags="-s -w -X $vpkg.gitVersion=$capi_version -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  for pair in "cluster-api-manager $capi" "capm3-manager $capm3"; do
    set -- $pair
    if ! (cd "$scratch/wrapper" && GOFLAGS="-mod=mod -buildvcs=false" go build -ldflags "$ldflags" \
          -o "$out.tmp/$1" "$2") >>"$log" 2>&1; then
      echo "capi: ERROR the Go build of $2 failed; the tail of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
  done
  # Their CRDs as the releases ship them (kustomize bases: no conversion-webhook or CA-injection patch,
  # which the test harness applies itself with its own URL and CA), their webhook configurations and
  # their manager ClusterRoles.
  for pair in "capi $capi_src" "capm3 $capm3_src"; do
    set -- $pair
    mkdir -p "$out.tmp/$1/crds"
    ls "$2"/config/crd/bases/*.yaml >/dev/null 2>&1 || { echo "capi: ERROR no CRDs in $2/config/crd/bases" >&2; exit 1; }
    cp "$2"/config/crd/bases/*.yaml "$out.tmp/$1/crds/"
    for f in config/webhook/manifests.yaml config/rbac/role.yaml; do
      [ -f "$2/$f" ] || { echo "capi: ERROR $2/$f is missing" >&2; exit 1; }
      cp "$2/$f" "$out.tmp/$1/$(basename "$(dirname "$f")").yaml"
    done
  done
  chmod -R u+w "$out.tmp"; rm -rf "$scratch"
  rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.complete"
  echo "capi: built in $(( $(date +%s) - start )) s into $out (Go build cache: $GOCACHE)"
fi
for b in cluster-api-manager capm3-manager; do
  "$out/$b" -h 2>&1 | grep -q -- '--webhook-port' \
    || { echo "capi: ERROR $out/$b -h does not list its flags" >&2; exit 1; }
done
cat > "$JUDGES_HOME/capi.env" <<ENV
export CAPI_BIN="$out/cluster-api-manager"
export CAPM3_BIN="$out/capm3-manager"
export CAPI_DIR="$out"
export CAPI_VERSION="$capi_version"
export CAPM3_VERSION="$capm3_version"
ENV
echo "capi: Cluster API $capi_version ($(ls "$out/capi/crds" | wc -l) CRDs), CAPM3 $capm3_version ($(ls "$out/capm3/crds" | wc -l) CRDs); ready ($JUDGES_HOME/capi.env)"
