//! Out-of-band manual cleaning in the pure conductor: BIOS steps run over the BMC without
//! booting the ramdisk, wait in `clean wait` for the reboot, and are verified by a fresh read.

use super::tests::{conductor_with, run_calls, t0};
use super::*;
use serde_json::{Map, json};

/// A BMC's BIOS: current attributes and those queued for the next power on.
struct FakeBios {
    current: Map<String, Value>,
    pending: Map<String, Value>,
    /// When false, a power on leaves the pending settings unapplied (a broken BMC).
    applies: bool,
    ops: Vec<String>,
}

impl FakeBios {
    fn new(applies: bool) -> Self {
        FakeBios {
            current: json!({"ProcVirtualization": "Enabled", "PxeRetryCount": 3})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            pending: Map::new(),
            applies,
            ops: Vec::new(),
        }
    }

    fn answer(&mut self, call: &Call) -> Result<CallResult, String> {
        let Call::Bmc(b) = call else {
            self.ops.push("agent".into());
            return Err("no agent in this test".into());
        };
        self.ops.push(match &b.op {
            BmcOp::PatchBiosSettings(_) => "PatchBiosSettings".to_string(),
            op => format!("{op:?}"),
        });
        match &b.op {
            BmcOp::GetBios => Ok(CallResult::Bios {
                attributes: self.current.clone(),
                registry: BTreeMap::new(),
            }),
            BmcOp::PatchBiosSettings(attrs) => {
                self.pending.extend(attrs.clone());
                Ok(CallResult::Done)
            }
            BmcOp::SetPower(NodePower::On) if self.applies => {
                let pending = std::mem::take(&mut self.pending);
                self.current.extend(pending);
                Ok(CallResult::Done)
            }
            BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
            _ => Ok(CallResult::Done),
        }
    }
}

fn manageable() -> (Conductor, Uuid) {
    let (mut c, u) = conductor_with("redfish");
    if let Some(n) = c.nodes.get_mut(&u) {
        n.provision_state = ProvisionState::Manageable;
    }
    (c, u)
}

fn apply(settings: Value) -> Vec<Value> {
    vec![
        json!({"interface": "bios", "step": "apply_configuration", "args": {"settings": settings}}),
    ]
}

#[test]
fn bios_settings_are_applied_over_the_bmc_without_a_ramdisk_and_verified_after_the_reboot() {
    let (mut c, u) = manageable();
    let mut bmc = FakeBios::new(true);
    let steps = apply(json!([{"name": "PxeRetryCount", "value": "5"}]));
    c.provision(u, "clean", Some(steps), t0()).expect("clean");
    let (_, states) = run_calls(&mut c, t0(), 300, &mut |call| bmc.answer(call));
    assert_eq!(
        bmc.ops,
        [
            "GetBios",
            "PatchBiosSettings",
            "SetPower(Off)",
            "SetPower(On)",
            "GetBios",
            "GetBios"
        ],
        "no PXE boot, no agent: the settings, a reboot, the read-back, the cache refresh"
    );
    assert!(states.contains(&"clean wait".to_string()), "{states:?}");
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::Manageable);
    assert_eq!(n.last_error, None);
    let cached = n.bios.iter().find(|s| s.name == "PxeRetryCount");
    assert_eq!(cached.and_then(|s| s.value.as_deref()), Some("5"));
}

#[test]
fn settings_the_bmc_already_holds_need_no_reboot() {
    let (mut c, u) = manageable();
    let mut bmc = FakeBios::new(true);
    let steps = apply(json!([{"name": "ProcVirtualization", "value": "Enabled"}]));
    c.provision(u, "clean", Some(steps), t0()).expect("clean");
    run_calls(&mut c, t0(), 300, &mut |call| bmc.answer(call));
    assert_eq!(bmc.ops, ["GetBios", "GetBios", "GetBios"]);
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Manageable);
}

#[test]
fn settings_a_reboot_did_not_apply_fail_the_clean_into_maintenance() {
    let (mut c, u) = manageable();
    let mut bmc = FakeBios::new(false);
    let steps = apply(json!([{"name": "PxeRetryCount", "value": 7}]));
    c.provision(u, "clean", Some(steps), t0()).expect("clean");
    run_calls(&mut c, t0(), 300, &mut |call| bmc.answer(call));
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::CleanFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some(
            "Redfish BIOS apply_configuration step failed. Attributes {'PxeRetryCount': 7} are not updated."
        )
    );
    assert!(n.maintenance);
    assert_eq!(n.fault.as_deref(), Some("clean failure"));
}

#[test]
fn a_bios_step_beside_an_in_band_step_boots_the_ramdisk() {
    let (mut c, u) = manageable();
    let mut bmc = FakeBios::new(true);
    let mut steps = apply(json!([{"name": "PxeRetryCount", "value": 5}]));
    steps.push(json!({"interface": "deploy", "step": "erase_devices_metadata"}));
    c.provision(u, "clean", Some(steps), t0()).expect("clean");
    run_calls(&mut c, t0(), 300, &mut |call| bmc.answer(call));
    assert!(
        bmc.ops.contains(&"SetBootDevice(Pxe)".to_string()),
        "{:?}",
        bmc.ops
    );
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::CleanWait);
}

fn active() -> (Conductor, Uuid) {
    let (mut c, u) = conductor_with("redfish");
    if let Some(n) = c.nodes.get_mut(&u) {
        n.provision_state = ProvisionState::Active;
    }
    (c, u)
}

#[test]
fn servicing_runs_bios_steps_through_service_wait_back_to_active() {
    let (mut c, u) = active();
    let mut bmc = FakeBios::new(true);
    let steps = apply(json!([{"name": "PxeRetryCount", "value": 4}]));
    c.provision(u, "service", Some(steps), t0())
        .expect("service");
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Servicing);
    let (_, states) = run_calls(&mut c, t0(), 300, &mut |call| bmc.answer(call));
    assert!(states.contains(&"service wait".to_string()), "{states:?}");
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Active);
    assert!(!bmc.ops.contains(&"agent".to_string()));
}

#[test]
fn a_failed_service_step_leaves_service_failed_and_abort_returns_to_active() {
    let (mut c, u) = active();
    let mut bmc = FakeBios::new(false);
    let steps = apply(json!([{"name": "PxeRetryCount", "value": 4}]));
    c.provision(u, "service", Some(steps), t0())
        .expect("service");
    run_calls(&mut c, t0(), 300, &mut |call| bmc.answer(call));
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::ServiceFailed);
    assert_eq!(n.target_provision_state, Some(ProvisionState::Active));
    assert_eq!(n.fault.as_deref(), Some("service failure"));
    let refused = c
        .provision(u, "abort", None, t0())
        .expect_err("in maintenance");
    assert!(
        refused
            .to_string()
            .contains("while it is in maintenance mode")
    );
    c.nodes.get_mut(&u).expect("node").maintenance = false;
    c.provision(u, "abort", None, t0()).expect("abort");
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::Active);
    assert_eq!(
        n.last_error.as_deref(),
        Some("By request, the service operation was aborted")
    );
}

#[test]
fn a_service_needing_the_ramdisk_is_refused_and_one_without_steps_is_a_bad_request() {
    let (mut c, u) = active();
    let err = c
        .provision(u, "service", Some(vec![]), t0())
        .expect_err("no steps");
    assert_eq!(
        err.to_string(),
        "\"service_steps\" is required when setting target provision state to service"
    );
    let steps = vec![json!({"interface": "deploy", "step": "erase_devices"})];
    c.provision(u, "service", Some(steps), t0())
        .expect("service");
    run_calls(&mut c, t0(), 100, &mut |_| Ok(CallResult::Done));
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::ServiceFailed);
    assert_eq!(
        n.last_error.as_deref(),
        Some(format!("Cannot service node {u}: node does not support this service step: {{'interface': 'deploy', 'step': 'erase_devices'}}").as_str())
    );
}
