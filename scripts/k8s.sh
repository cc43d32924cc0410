#!/usr/bin/env bash
# `make k8s`: builds the real Kubernetes control plane the tests are judged by — kube-apiserver,
# kube-controller-manager and etcd — from the Go modules pinned in judges/kubernetes/{go.mod,go.sum}.
# Binaries go to $JUDGES_HOME/kubernetes-<version>-<key>/ (key: a hash of the pins and this script), so a
# change of pins builds anew and an unchanged tree costs a second. Writes $JUDGES_HOME/k8s.env, which
# the tests source (KUBE_BIN_DIR). Module and build caches stay under ~/.cache; nothing lands in the tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mod="$root/judges/kubernetes"
JUDGES_HOME="${JUDGES_HOME:-$HOME/.cache/metal-judges}"
export GOMODCACHE="${GOMODCACHE:-$HOME/.cache/metal-go/mod}"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

command -v go >/dev/null || { echo "k8s: ERROR go is not installed (Go >= 1.26 builds the control plane)" >&2; exit 2; }
version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$mod/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$mod/go.mod")
[ -n "$version" ] && [ -n "$etcd_version" ] || { echo "k8s: ERROR cannot read the pinned versions from $mod/go.mod" >&2; exit 2; }
key=$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-12)
out="$JUDGES_HOME/kubernetes-$version-$key"
mkdir -p "$JUDGES_HOME"

if [ -f "$out/.complete" ]; then
  echo "k8s: kube-apiserver, kube-controller-manager $version and etcd $etcd_version cached in $out (warm: 0 s)"
else
  start=$(date +%s)
  echo "k8s: building kube-apiserver, kube-controller-manager $version and etcd $etcd_version (several minutes on 2 cores with a cold Go cache)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  minor=$(echo "$version" | cut -d. -f2)
  # What `kubectl version` and /version report: the pinned release, not "v0.0.0-master".
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  log="$out.tmp/build.log"
  if ! (cd "$mod" && go build -ldflags "$ldflags" -o "$out.tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        go.etcd.io/etcd/server/v3) >"$log" 2>&1; then
    echo "k8s: ERROR the Go build failed; the tail of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  # Go names the etcd server's binary after the path element before its major version ("server").
  mv "$out.tmp/server" "$out.tmp/etcd"
  for b in kube-apiserver kube-controller-manager etcd; do
    [ -x "$out.tmp/$b" ] || { echo "k8s: ERROR $b was not built (see $log)" >&2; exit 1; }
  done
  rm -rf "$out"; mv "$out.tmp" "$out"; touch "$out/.complete"
  echo "k8s: built in $(( $(date +%s) - start )) s into $out (Go build cache: $GOCACHE)"
fi
"$out/kube-apiserver" --version
# Read the whole output: `| head -1` would close the pipe early and fail the script on SIGPIPE.
etcd_says=$("$out/etcd" --version)
echo "${etcd_says%%$'\n'*}"
cat > "$JUDGES_HOME/k8s.env" <<ENV
export KUBE_BIN_DIR="$out"
export KUBE_VERSION="$version"
ENV
echo "k8s: ready ($JUDGES_HOME/k8s.env)"
