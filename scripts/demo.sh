#!/usr/bin/env bash
# `make demo`: the README's main job. On loopback, with no Docker and no VMs, it starts
#   - metal-sim's embedded Kubernetes control plane (a test double of the API server) with our CRDs,
#   - metal-sim's demo fleet (fleets/demo.yaml: 3 Redfish BMCs, 1 IPMI BMC) and its mock Ironic,
#   - the real metal-operator binary, pointed at both,
# then registers the fleet with kubectl, provisions and deprovisions a host, and shows the machines'
# own view through ipmitool and Redfish. DEMO_HOLD=1 keeps everything running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${PEERS_HOME:-$HOME/.cache/metal-peers}/peers.env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
cargo build -q -p metal-wire -p metal-operator --bins
sim="$CARGO_TARGET_DIR/debug/metal-sim"
operator="$CARGO_TARGET_DIR/debug/metal-operator"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
wait_for() { # wait_for SECONDS FILE
  for _ in $(seq 1 $(($1 * 10))); do [ -s "$2" ] && return 0; sleep 0.1; done
  echo "timed out waiting for $2" >&2; tail -20 "$work"/*.log >&2 || true; return 1
}
# Prints the host table whenever it changes, until every listed host is in STATE (bounded).
watch_until() { # watch_until SECONDS STATE [HOST...]
  local limit=$1 want=$2; shift 2
  local last="" now key start=$SECONDS
  while (( SECONDS - start < limit )); do
    now=$(kubectl get bmh -n metal3 "$@" 2>/dev/null || true)
    # Print the table only when a host's state changes (AGE alone changes every second).
    key=$(printf '%s\n' "$now" | awk '{print $1, $2}')
    if [ "$key" != "$last" ]; then printf '%s\n\n' "$now"; last=$key; fi
    if [ -n "$now" ] && ! kubectl get bmh -n metal3 "$@" --no-headers 2>/dev/null | awk -v w="$want" '$2 != w {bad=1} END {exit bad}'; then
      sleep 0.5; continue
    fi
    [ -n "$now" ] && { echo "(all $want after $((SECONDS - start)) s)"; return 0; }
    sleep 0.5
  done
  echo "not all hosts reached $want within $limit s" >&2; return 1
}

step "Start metal-sim: the demo fleet's BMCs (each on its own 127.0.1.x address), the mock Ironic (127.0.0.1:6385) and the embedded control plane (HTTPS on 127.0.0.1:6443, with the operator's CRDs)"
printf '$ metal-sim serve --control 127.0.0.1:9100 --ironic 127.0.0.1:6385 --controlplane 127.0.0.1:6443 --kubeconfig %s\n' "$work/kubeconfig"
"$sim" serve --endpoints "$work/endpoints.json" --control 127.0.0.1:9100 --ironic 127.0.0.1:6385 \
  --controlplane 127.0.0.1:6443 --kubeconfig "$work/kubeconfig" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_for 15 "$work/endpoints.json"
export KUBECONFIG="$work/kubeconfig"
python3 - "$work/endpoints.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
print(f"{'NAME':<13} {'PROTOCOL':<21} ADDRESS")
for b in e["bmcs"]:
    print(f"{b['name']:<13} {b['protocol']:<21} {b['address']}")
print("mock Ironic:", e.get("ironic"), "| fleet ground truth:", e.get("control") + "/hosts", "| live fleet view:", e.get("control") + "/ui", "| kubeconfig:", e.get("kubeconfig"))
PY

step "Register the fleet: BareMetalHost + Secret YAML, as a user applies it (metal-sim fleet manifests)"
run kubectl create namespace metal3
"$sim" fleet manifests > "$work/fleet.yaml"
sed -n '/kind: BareMetalHost/,/^---/p' "$work/fleet.yaml" | sed -n '1,16p'
run kubectl apply -f "$work/fleet.yaml"

step "Start metal-operator against the control plane and the mock Ironic"
# The demo fleet runs at time_scale 0.1; the operator polls to match (what
# statemachine::Settings::for_time_scale(0.1) gives every testbed; production keeps upstream's 3 s / 10 s).
"$operator" run --ironic-endpoint http://127.0.0.1:6385 \
  --poll-short 300ms --poll-long 1s --poll-steady 6s --poll-slow 60s --missing-secret-retry 1s \
  --error-backoff-unit 6s --poll-first 20ms \
  --deploy-kernel-url http://127.0.0.1/ipa.kernel --deploy-ramdisk-url http://127.0.0.1/ipa.initramfs \
  --deploy-iso-url http://127.0.0.1/ipa.iso >"$work/operator.log" 2>&1 &
pids+=($!)
echo "To watch from another terminal:  KUBECONFIG=$KUBECONFIG kubectl get bmh -n metal3 -w"
echo
watch_until 120 available

step "Hardware details found by inspection (the GPU server)"
kubectl get bmh -n metal3 demo-vm-0 -o jsonpath='{.status.hardware.systemVendor}{"\n"}{.status.hardware.cpu}{"\n"}'

step "Serve an OS image and its checksum file on loopback (the fake agent downloads and verifies it)"
mkdir -p "$work/images"
python3 -c 'import hashlib, sys; sys.stdout.buffer.write(b"".join(hashlib.sha256(b"demo-os-%d" % i).digest() for i in range(65536)))' > "$work/images/os.img"
(cd "$work/images" && sha256sum os.img > os.img.sha256sum && cat os.img.sha256sum)
python3 -m http.server 8099 --bind 127.0.0.1 --directory "$work/images" >"$work/images.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -sf -o /dev/null http://127.0.0.1:8099/os.img.sha256sum && break; sleep 0.1; done

step "Provision demo-rf-0: set an image, as a user (or a claim) does"
run kubectl -n metal3 patch bmh demo-rf-0 --type merge \
  -p '{"spec":{"image":{"url":"http://127.0.0.1:8099/os.img","checksum":"http://127.0.0.1:8099/os.img.sha256sum","checksumType":"sha256","format":"raw"}}}'
watch_until 120 provisioned demo-rf-0

step "The machine's own view: Redfish and the fleet's ground truth"
rf=$(python3 -c 'import json,sys; b=[b for b in json.load(open(sys.argv[1]))["bmcs"] if b["name"]=="demo-rf-0"][0]; print(b["address"].split("+",1)[1])' "$work/endpoints.json")
curl -s -u admin:password "$rf" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("Redfish PowerState:", s["PowerState"], "| boot override:", s["Boot"]["BootSourceOverrideTarget"], s["Boot"]["BootSourceOverrideEnabled"])'
ipmi=$(python3 -c 'import json,sys; b=[b for b in json.load(open(sys.argv[1]))["bmcs"] if b["protocol"]=="ipmi"][0]; print(b["address"].split("//")[1].replace(":"," "))' "$work/endpoints.json")
printf '$ ipmitool -I lanplus -C 17 -H %s -p %s -U admin -P password power status\n' ${ipmi% *} ${ipmi#* }
ipmitool -I lanplus -C 17 -H "${ipmi% *}" -p "${ipmi#* }" -U admin -P password power status
printf '$ curl -s http://127.0.0.1:9100/hosts/demo-rf-0   # the simulated machine: its disks and last boot\n'
curl -s http://127.0.0.1:9100/hosts/demo-rf-0 | python3 -c '
import json, sys
m = json.load(sys.stdin)["machine"]
for d in m["disks"]:
    img = d.get("image") or {}
    print("  disk %s: image %s checksum %s partition table %s" % (d["name"], img.get("url", "-"), img.get("checksum", "-"), d["partition_table"]))
print("  last boot:", json.dumps(m.get("last_boot", {}).get("outcome")))'

step "Deprovision demo-rf-0: remove the image; the host is cleaned and becomes available again"
run kubectl -n metal3 patch bmh demo-rf-0 --type json -p '[{"op":"remove","path":"/spec/image"}]'
watch_until 120 available demo-rf-0
curl -s http://127.0.0.1:9100/hosts/demo-rf-0 | python3 -c '
import json, sys
for d in json.load(sys.stdin)["machine"]["disks"]:
    print("  after cleaning, disk %s: partition table %s (wiped by the agent clean step)" % (d["name"], d["partition_table"]))'

step "The upstream columns, and the Events the operator wrote"
run kubectl get bmh -n metal3 -o wide
kubectl get events -n metal3 --sort-by=.lastTimestamp 2>/dev/null | tail -8

step "Delete a host: the finalizer path (powering off before delete → deleting → gone)"
run kubectl -n metal3 delete bmh demo-ipmi-0 --timeout=90s
run kubectl get bmh -n metal3

if [ "${DEMO_HOLD:-0}" = 1 ]; then
  step "Holding: everything keeps running until Ctrl-C (KUBECONFIG=$KUBECONFIG)"
  wait
fi
