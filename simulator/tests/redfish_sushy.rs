//! sushy (Ironic's Redfish library) against our fake BMC: system, power on/off/reset, boot
//! override once/continuous read back (and once cleared by a boot), virtual media insert/eject
//! under the manager and under the system, BIOS settings, a firmware update task, with Basic auth
//! and with sessions.

#[path = "redfish_fixture.rs"]
mod fixture;
mod support;

use std::time::Duration;

use metal_sim::machine::Timing;

/// The sushy session, run by the pinned venv's python. Exits non-zero with a message on any
/// mismatch; prints `SUSHY OK` at the end.
const SCRIPT: &str = r#"
import sys, time, warnings
warnings.filterwarnings("ignore")
import sushy
from sushy import auth

base, user, password, system_id, mode = sys.argv[1:6]
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

def wait_power(state):
    for _ in range(200):
        system.refresh()
        if system.power_state == state:
            return
        time.sleep(0.02)
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
for _ in range(200):
    system.refresh()
    if system.boot.enabled == sushy.BootSourceOverrideEnabled.DISABLED:
        break
    time.sleep(0.02)
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
for _ in range(200):
    bios.refresh()
    if bios.attributes["ProcVirtualization"] == "Disabled":
        break
    time.sleep(0.02)
check(bios.attributes["ProcVirtualization"] == "Disabled", "bios not applied at reset")
updates = root.get_update_service()
monitor = updates.simple_update("http://127.0.0.1:9/firmware/bios-next.bin",
                                targets=["/redfish/v1/Systems/" + system_id])
for _ in range(300):
    task = monitor.get_task()
    if task.task_state != sushy.TaskState.RUNNING:
        break
    time.sleep(0.02)
check(task.task_state == sushy.TaskState.COMPLETED, "update task %r" % task.task_state)
check(task.percent_complete == 100, "update percent %r" % task.percent_complete)
system.refresh()
check(system.bios_version == "2.1.10", "bios version after update %r" % system.bios_version)
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
    let mut command = tokio::process::Command::new(python);
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg(server.base_url())
        .args([fixture::USER, fixture::PASSWORD, &id, mode])
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
