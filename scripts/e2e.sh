#!/usr/bin/env bash
# `make e2e`: the end-to-end suite against kind when Docker and kind work, otherwise against
# metal-sim's embedded control plane. It prints which mode ran.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v docker >/dev/null && docker info >/dev/null 2>&1 && command -v kind >/dev/null; then
  mode=kind
else
  mode=embedded
fi
echo "e2e: mode=$mode"
echo "e2e: not available yet: the embedded control plane and the kind manifests come with issue 5" >&2
exit 2
