#!/usr/bin/env bash
# `make e2e`: the end-to-end flow against kind when Docker and kind work, otherwise against metal-sim's
# embedded control plane with local processes. It prints which mode ran.
#
# Today the embedded mode runs one end-to-end case: scripts/demo.sh, which fails when any host misses a
# state within its bound — real metal-operator, real kubectl, the embedded control plane, the mock Ironic
# and the demo fleet's fake BMCs: register → inspect → available → provision → provisioned →
# deprovision → available, and delete through the finalizer. The kind mode (manifests, images) and the
# wider e2e suite come with issue 5.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v docker >/dev/null && docker info >/dev/null 2>&1 && command -v kind >/dev/null; then
  echo "e2e: mode=kind"
  echo "e2e: the kind manifests and images are not written yet (issue 5); refusing to pretend" >&2
  exit 2
fi
echo "e2e: mode=embedded (no working Docker engine or kind here)"
start=$(date +%s)
bash scripts/demo.sh
echo "e2e: embedded mode passed in $(( $(date +%s) - start )) s"
