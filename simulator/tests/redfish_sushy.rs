//! sushy (Ironic's Redfish library) against our fake BMC: system, power on/off/reset, boot
//! override once/continuous read back (and once cleared by a boot), virtual media insert/eject
//! under the manager and under the system, BIOS settings and their attribute registry (bad values
//! refused by name), firmware update tasks (images off loopback refused, a fault ending one in
//! Exception), hardware RAID volumes, and an event subscription receiving a power change, with
//! Basic auth and with sessions.

#[path = "redfish_fixture.rs"]
mod fixture;
mod support;

use std::time::Duration;

use metal_sim::machine::Timing;

/// The sushy session, run by the pinned venv's python. Exits non-zero with a message on any
/// mismatch; prints `SUSHY OK` at the end.
const SCRIPT: &str = r#"
import json, sys, threading, time, warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
warnings.filterwarnings("ignore")
import sushy
from sushy import auth

base, user, password, system_id, mode, raid_id, failing_id = sys.argv[1:8]
if mode == "basic":
    a = auth.BasicAuth(username=user, password=password)
else:
    a = auth.SessionAuth(username=user, password=password)
root = sushy.Sushy(base + "/redfish/v1", auth=a, verify=False)

def check(cond, what):
    if not cond:
        sys.exit("MISMATCH: " + what)

system = root.get_system("/redfish/v1/Systems/" + system_id)
check(system.uuid == system_id, "uuid %r" % system.uuid)
check(system.manufacturer == "Contoso", "manufacturer")
check(system.memory_summary.size_gib == 256, "memory %r" % (system.memory_summary,))
check(sushy.ResetType.POWER_CYCLE in system.get_allowed_reset_system_values(), "PowerCycle allowed")

# Polls done() until it holds, at most `tries` times 20 ms apart; whether it held.
def wait_for(done, tries):
    for _ in range(tries):
        if done():
            return True
        time.sleep(0.02)
    return done()

def wait_power(state):
    def reached():
        system.refresh()
        return system.power_state == state
    if not wait_for(reached, 200):
        sys.exit("power never reached %s (is %s)" % (state, system.power_state))

check(system.power_state == sushy.PowerState.OFF, "starts off")
system.reset_system(sushy.ResetType.ON)
wait_power(sushy.PowerState.ON)
system.reset_system(sushy.ResetType.FORCE_OFF)
wait_power(sushy.PowerState.OFF)
system.reset_system(sushy.ResetType.ON)
wait_power(sushy.PowerState.ON)
system.reset_system(sushy.ResetType.POWER_CYCLE)
wait_power(sushy.PowerState.ON)

system.set_system_boot_options(sushy.BootSource.HDD, enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS,
                               mode=sushy.BootSourceOverrideMode.UEFI)
system.refresh()
check(system.boot.target == sushy.BootSource.HDD, "continuous target %r" % system.boot.target)
check(system.boot.enabled == sushy.BootSourceOverrideEnabled.CONTINUOUS, "continuous %r" % system.boot.enabled)
check(system.boot.mode == sushy.BootSourceOverrideMode.UEFI, "mode %r" % system.boot.mode)

system.set_system_boot_options(sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE)
system.refresh()
check(system.boot.target == sushy.BootSource.PXE, "once target %r" % system.boot.target)
check(system.boot.enabled == sushy.BootSourceOverrideEnabled.ONCE, "once %r" % system.boot.enabled)
system.reset_system(sushy.ResetType.FORCE_RESTART)
def once_cleared():
    system.refresh()
    return system.boot.enabled == sushy.BootSourceOverrideEnabled.DISABLED
wait_for(once_cleared, 200)
check(system.boot.enabled == sushy.BootSourceOverrideEnabled.DISABLED, "once not cleared by the boot: %r" % system.boot.enabled)

image = "http://127.0.0.1:9/images/ipa.iso"
manager = system.managers[0]
cd = None
for vm in manager.virtual_media.get_members():
    if sushy.VirtualMediaType.CD in vm.media_types:
        cd = vm
check(cd is not None, "manager CD slot")
cd.insert_media(image, inserted=True, write_protected=True)
cd.refresh()
check(cd.inserted and cd.image == image, "manager insert %r %r" % (cd.inserted, cd.image))
cd.eject_media()
cd.refresh()
check(not cd.inserted, "manager eject")

scd = system.virtual_media.get_member("/redfish/v1/Systems/%s/VirtualMedia/Cd" % system_id)
scd.insert_media(image)
scd.refresh()
check(scd.inserted and scd.image == image, "system insert")
cd.refresh()
check(cd.inserted, "one slot seen through both paths")
scd.eject_media()

bios = system.bios
check(bios.attributes["ProcVirtualization"] == "Enabled", "bios current")
bios.set_attributes({"ProcVirtualization": "Disabled"})
bios.refresh()
check(bios.pending_attributes["ProcVirtualization"] == "Disabled", "bios pending %r" % (bios.pending_attributes,))
check(bios.attributes["ProcVirtualization"] == "Enabled", "bios applied too early")
system.reset_system(sushy.ResetType.FORCE_RESTART)
def bios_applied():
    bios.refresh()
    return bios.attributes["ProcVirtualization"] == "Disabled"
wait_for(bios_applied, 200)
check(bios.attributes["ProcVirtualization"] == "Disabled", "bios not applied at reset")
registry = bios.get_attribute_registry()
check(registry is not None, "bios attribute registry not found")
entries = {a.name: a for a in registry.registry_entries.attributes}
check(entries["PxeRetryCount"].attribute_type == "Integer", "PxeRetryCount type")
check(entries["PxeRetryCount"].upper_bound == 10, "PxeRetryCount bound %r" % entries["PxeRetryCount"].upper_bound)
check(entries["SystemServiceTag"].read_only, "SystemServiceTag read-only")
check([v["ValueName"] for v in entries["ProcVirtualization"].allowable_values] == ["Enabled", "Disabled"],
      "ProcVirtualization values")
for name in bios.attributes:
    check(name in entries, "attribute %s missing from the registry" % name)
for bad, message in [({"PxeRetryCount": 99}, "PropertyValueOutOfRange"),
                     ({"SystemServiceTag": "X"}, "PropertyNotWritable"),
                     ({"NoSuchKnob": 1}, "PropertyUnknown"),
                     ({"ProcVirtualization": "On", "PxeRetryCount": 4}, "PropertyValueNotInList"),
                     ({"AssetTag": "x" * 33}, "StringValueTooLong")]:
    try:
        bios.set_attributes(bad)
        sys.exit("MISMATCH: bad BIOS settings accepted: %r" % (bad,))
    except sushy.exceptions.BadRequestError as e:
        check(message in str(e) and list(bad)[0] in str(e), "refusal of %r: %s" % (bad, e))
bios.refresh()
check(bios.pending_attributes.get("PxeRetryCount") != 4, "a refused patch was kept in part")
updates = root.get_update_service()
monitor = updates.simple_update("http://127.0.0.1:9/firmware/bios-next.bin",
                                targets=["/redfish/v1/Systems/" + system_id])
def task_ended():
    global task
    task = monitor.get_task()
    return task.task_state != sushy.TaskState.RUNNING
wait_for(task_ended, 300)
check(task.task_state == sushy.TaskState.COMPLETED, "update task %r" % task.task_state)
check(task.percent_complete == 100, "update percent %r" % task.percent_complete)
system.refresh()
check(system.bios_version == "2.1.10", "bios version after update %r" % system.bios_version)

# Firmware images only from loopback: anything else is refused with no task.
tasks_before = root._conn.get("/redfish/v1/TaskService/Tasks").json()["Members@odata.count"]
for bad_image in ["http://192.0.2.10/fw.bin", "ftp://127.0.0.1/fw.bin"]:
    try:
        updates.simple_update(bad_image, targets=["/redfish/v1/Systems/" + system_id])
        sys.exit("MISMATCH: image %s accepted" % bad_image)
    except sushy.exceptions.BadRequestError as e:
        check("ActionParameterValueError" in str(e) and "ImageURI" in str(e), "image refusal: %s" % e)
try:
    updates.simple_update("http://127.0.0.1:9/fw.bin", targets=["/redfish/v1/UpdateService/FirmwareInventory/NoSuch"])
    sys.exit("MISMATCH: unknown component accepted")
except sushy.exceptions.BadRequestError as e:
    check("Targets" in str(e), "unknown target refusal: %s" % e)
tasks_after = root._conn.get("/redfish/v1/TaskService/Tasks").json()["Members@odata.count"]
check(tasks_after == tasks_before, "a refused update made a task (%d -> %d)" % (tasks_before, tasks_after))

# A firmware fault ends the task in Exception with a message; nothing is installed.
if failing_id:
    failing = root.get_system("/redfish/v1/Systems/" + failing_id)
    version_before = failing.bios_version
    monitor = updates.simple_update("http://127.0.0.1:9/firmware/bad.bin",
                                    targets=["/redfish/v1/Systems/" + failing_id])
    wait_for(task_ended, 300)
    check(task.task_state == sushy.TaskState.EXCEPTION, "faulty update task %r" % task.task_state)
    check(task.messages and "failed verification" in task.messages[0].message,
          "faulty update message %r" % ([m.message for m in task.messages],))
    failing.refresh()
    check(failing.bios_version == version_before, "a failed update installed %r" % failing.bios_version)

# Hardware RAID through the storage API.
if raid_id:
    raid_system = root.get_system("/redfish/v1/Systems/" + raid_id)
    storage = raid_system.storage.get_members()[0]
    controller = storage.controllers.get_members()[0]
    check(sushy.RAIDType.RAID1 in controller.raid_types, "raid types %r" % (controller.raid_types,))
    drives = storage.drives
    check(len(drives) == 2, "drives %r" % (drives,))
    smallest = min(d.capacity_bytes for d in drives)
    volumes = storage.volumes
    # A fresh collection each time: sushy keeps a collection's members once read.
    from sushy.resources.system.storage.volume import VolumeCollection
    sizes = lambda: sorted(v.capacity_bytes for v in VolumeCollection(
        root._conn, volumes.path, redfish_version=root.redfish_version).get_members())
    check(sizes() == [], "volumes at start %r" % (sizes(),))
    try:
        volumes.create({"RAIDType": "RAID1", "CapacityBytes": smallest + 1,
                        "Links": {"Drives": [{"@odata.id": d.path} for d in drives]}})
        sys.exit("MISMATCH: volume larger than its drives accepted")
    except sushy.exceptions.BadRequestError as e:
        check("CapacityBytes" in str(e), "capacity refusal: %s" % e)
    try:
        volumes.create({"RAIDType": "RAID6", "Links": {"Drives": [{"@odata.id": d.path} for d in drives]}})
        sys.exit("MISMATCH: RAID6 on two drives accepted")
    except sushy.exceptions.BadRequestError as e:
        check("Links/Drives" in str(e), "drive count refusal: %s" % e)
    volume = volumes.create({"RAIDType": "RAID1", "Name": "root",
                             "Links": {"Drives": [{"@odata.id": d.path} for d in drives]}},
                            apply_time=sushy.ApplyTime.IMMEDIATE)
    check(volume is not None and volume.raid_type == sushy.RAIDType.RAID1, "created %r" % (volume,))
    check(volume.capacity_bytes == smallest, "mirror size %r" % volume.capacity_bytes)
    check(sizes() == [smallest], "volumes %r" % (sizes(),))
    volume.delete()
    check(sizes() == [], "after delete %r" % (sizes(),))
    no_raid = system.storage.get_members()[0].controllers.get_members()[0]
    check(no_raid.raid_types == [], "a GPU box has no RAID %r" % (no_raid.raid_types,))

# Events: a loopback listener subscribed through sushy receives the power change.
received = []
class Inbox(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        received.append((self.headers.get("X-Token"), json.loads(self.rfile.read(length))))
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
listener = HTTPServer(("127.0.0.1", 0), Inbox)
threading.Thread(target=listener.serve_forever, daemon=True).start()
destination = "http://127.0.0.1:%d/events" % listener.server_address[1]
events = root.get_event_service()
event_types = [getattr(t, "value", t) for t in events.get_event_types_for_subscription()]
check("StatusChange" in event_types, "event types %r" % (event_types,))
try:
    events.subscriptions.create({"Destination": "http://203.0.113.5/events", "Protocol": "Redfish"})
    sys.exit("MISMATCH: off-loopback destination accepted")
except sushy.exceptions.BadRequestError as e:
    check("Destination" in str(e), "destination refusal: %s" % e)
subscription = events.subscriptions.create({"Destination": destination, "Protocol": "Redfish",
                                            "Context": "judge", "EventTypes": ["StatusChange"],
                                            "HttpHeaders": [{"X-Token": "t0ken"}]})
check(subscription.destination == destination and subscription.http_headers == [],
      "subscription %r %r" % (subscription.destination, subscription.http_headers))
system.reset_system(sushy.ResetType.FORCE_OFF)
wait_power(sushy.PowerState.OFF)
wait_for(lambda: any(b["Events"][0]["MessageId"].endswith("ResourcePoweredOff")
                     for _, b in received), 500)
got = [(t, b) for t, b in received if b["Events"][0]["MessageId"].endswith("ResourcePoweredOff")]
check(got, "no power-off event received: %r" % (received,))
check(got[0][0] == "t0ken" and got[0][1]["Context"] == "judge", "event %r" % (got[0],))
subscription.delete()
listener.shutdown()
print("SUSHY OK")
"#;

async fn run_sushy(mode: &str) {
    let Some(venv) = support::venv() else {
        support::peer("sushy-emulator");
        return;
    };
    let python = venv.join("bin/python");
    let server = fixture::Server::start(
        // Basic auth: three systems behind one address (single-address layout); sessions: one
        // system over HTTPS (per-address layout).
        if mode == "session" { 1 } else { 3 },
        mode == "session",
        Timing::nominal().scaled(0.002),
    )
    .await;
    let id = fixture::system_id(&server.world);
    // With three systems: the second has a RAID controller, the third's firmware updates fail.
    let (raid_id, failing_id) = if server.world.hosts().len() >= 3 {
        let failing = &server.world.hosts()[2];
        failing.set_faults(
            server.world.now(),
            metal_sim::fault::FaultSet {
                firmware_update_fail_rate: 1.0,
                ..metal_sim::fault::FaultSet::none()
            },
        );
        (
            fixture::nth_system_id(&server.world, 1),
            fixture::nth_system_id(&server.world, 2),
        )
    } else {
        (String::new(), String::new())
    };
    let mut command = tokio::process::Command::new(python);
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg(server.base_url())
        .args([
            fixture::USER,
            fixture::PASSWORD,
            &id,
            mode,
            &raid_id,
            &failing_id,
        ])
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("sushy finished within 2 minutes")
        .expect("python ran");
    server.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("SUSHY OK"),
        "sushy ({mode}) failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_drives_power_boot_media_and_bios_with_basic_auth() {
    run_sushy("basic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_drives_power_boot_media_and_bios_with_sessions_over_https() {
    run_sushy("session").await;
}
