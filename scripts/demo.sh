#!/usr/bin/env bash
# `make demo`: the README's main job. Starts metal-sim's demo fleet on loopback and drives it with the
# same tools an operator of real servers would use (ipmitool, Redfish over curl, the fleet's ground
# truth), then stops. DEMO_HOLD=1 keeps the fleet running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${PEERS_HOME:-$HOME/.cache/metal-peers}/peers.env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/metal-target}"
cargo build -q -p metal-sim --bins
sim="$CARGO_TARGET_DIR/debug/metal-sim"

work=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "metal-sim serve: the demo fleet (fleets/demo.yaml), every BMC on its own 127.0.1.x address"
"$sim" serve --endpoints "$work/endpoints.json" --control 127.0.0.1:9100 --ironic 127.0.0.1:6385 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/endpoints.json" ] && break; sleep 0.1; done
[ -s "$work/endpoints.json" ] || { echo "metal-sim did not start:"; cat "$work/serve.log"; exit 1; }
python3 - "$work/endpoints.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
print(f"{'NAME':<14} {'PROTOCOL':<22} {'BOOT MAC':<19} ADDRESS")
for b in e["bmcs"]:
    print(f"{b['name']:<14} {b['protocol']:<22} {b['boot_mac']:<19} {b['address']}")
print("control API:", e.get("control"), "| mock Ironic:", e.get("ironic"))
PY
ipmi=$(python3 -c 'import json,sys; b=[b for b in json.load(open(sys.argv[1]))["bmcs"] if b["protocol"]=="ipmi"][0]; a=b["address"].split("//")[1]; print(a.replace(":"," "))' "$work/endpoints.json")
ipmi_host=${ipmi% *}; ipmi_port=${ipmi#* }
rf=$(python3 -c 'import json,sys; b=[b for b in json.load(open(sys.argv[1]))["bmcs"] if b["protocol"]=="redfish"][0]; print(b["address"].split("+",1)[1])' "$work/endpoints.json")

step "IPMI: ipmitool (cipher suite 17) against the IPMI host"
ipmitool_() { ipmitool -I lanplus -C 17 -H "$ipmi_host" -p "$ipmi_port" -U admin -P password "$@"; }
run ipmitool_ power status
run ipmitool_ chassis bootdev pxe options=persistent,efiboot
run ipmitool_ chassis bootparam get 5 | sed -n '1,12p'
run ipmitool_ power on
sleep 0.5
run ipmitool_ power status
printf '$ ipmitool ... -P wrong power status   (a wrong password is refused)\n'
ipmitool -I lanplus -C 17 -H "$ipmi_host" -p "$ipmi_port" -U admin -P wrong power status 2>&1 | head -2 || true

step "Redfish: curl against a Redfish host"
run curl -s -u admin:password "$rf" -o "$work/system.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print({k: s.get(k) for k in ("Id","Manufacturer","Model","PowerState")}); print("Boot:", {k: s["Boot"].get(k) for k in ("BootSourceOverrideTarget","BootSourceOverrideEnabled")})' "$work/system.json"
run curl -s -u admin:password -X PATCH -H 'Content-Type: application/json' \
  -d '{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}' "$rf" -o /dev/null -w 'PATCH boot override -> HTTP %{http_code}\n'
run curl -s -u admin:password -X POST -H 'Content-Type: application/json' \
  -d '{"ResetType":"On"}' "$rf/Actions/ComputerSystem.Reset" -o /dev/null -w 'Reset On -> HTTP %{http_code}\n'
sleep 1
curl -s -u admin:password "$rf" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("PowerState:", s["PowerState"], "| override now:", s["Boot"]["BootSourceOverrideEnabled"], "(Once is consumed by the boot)")'
printf '$ curl -u admin:wrong ...   -> '
curl -s -o /dev/null -w 'HTTP %{http_code}\n' -u admin:wrong "$rf"

step "Ground truth from the control API (what really happened to the machines)"
curl -s http://127.0.0.1:9100/hosts | python3 -c '
import json, sys
hosts = json.load(sys.stdin)
hosts = hosts.get("hosts", hosts) if isinstance(hosts, dict) else hosts
for h in hosts:
    m = h.get("machine", h)
    print(json.dumps({k: h.get(k) for k in ("name",)} | {k: v for k, v in m.items() if k in ("power","boot_override","last_boot")})[:200])
'

step "Mock Ironic drives a Redfish host over the wire, through python-ironicclient (baremetal CLI)"
export OS_AUTH_TYPE=none OS_ENDPOINT=http://127.0.0.1:6385
rfbase=${rf%%/redfish*}; rfsys=/redfish/v1/Systems/${rf#*/redfish/v1/Systems/}
run baremetal node create --driver redfish --name demo-rf-0-node \
  --driver-info redfish_address="$rfbase" --driver-info redfish_system_id="$rfsys" \
  --driver-info redfish_username=admin --driver-info redfish_password=password \
  --driver-info deploy_kernel=http://127.0.0.1/ipa.kernel --driver-info deploy_ramdisk=http://127.0.0.1/ipa.initramfs \
  -f value -c uuid
for verb in manage provide deploy; do
  run baremetal node "$verb" demo-rf-0-node --wait 60
  baremetal node show demo-rf-0-node -f value -c provision_state -c power_state | paste -sd' '
done
curl -s http://127.0.0.1:9100/hosts | python3 -c 'import json,sys; h=json.load(sys.stdin); h=h.get("hosts",h) if isinstance(h,dict) else h; m=[x for x in h if x["address"].startswith("redfish+http://'"${rfbase#http://}"'")][0]["machine"]; print("the machine itself now says: power", m["power"], "| boot override", m.get("boot_override"))'

step "The BareMetalHost + Secret manifests a user applies for this fleet (metal-sim fleet manifests)"
"$sim" fleet manifests | sed -n '1,40p'
echo "... (the embedded control plane and the operator join this demo with issue 5)"

if [ "${DEMO_HOLD:-0}" = 1 ]; then
  step "Holding: the fleet keeps running until Ctrl-C"
  wait "$pid"
fi
