//! Engine mode's BIOS writes: the same machine rule and the same driver text as the wire.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde_json::{Map, Value, json};

use super::bmc::{HostBmc, Route, operate};
use metal_sim::fault::FaultSet;
use metal_sim::fleet::Fleet;
use metal_sim::ironic::conductor::BmcOp;
use metal_sim::ironic::driver::RedfishTarget;
use metal_sim::ironic::model::NodePower;
use metal_sim::machine::{BiosValue, BmcProtocol, Machine, SimTime, Timing};

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Runs `ops` on a demo-fleet Redfish host; the results and the machine afterwards.
fn run(ops: &[BmcOp]) -> (Vec<Result<(), String>>, Machine, String) {
    let fleet = Fleet::demo().expect("demo fleet");
    let spec = fleet
        .hosts()
        .iter()
        .find(|h| h.bmc.protocol == BmcProtocol::Redfish)
        .expect("a redfish host");
    let address = format!("http://{}", spec.bmc.socket);
    let info = attrs(json!({
        "redfish_address": address,
        "redfish_username": spec.bmc.credentials.username,
        "redfish_password": spec.bmc.credentials.password,
    }));
    let target = RedfishTarget::from_driver_info("n", &info).expect("target");
    let url = format!("{address}/redfish/v1/Systems/{}", spec.bmc.system_id);
    let route = Route::Redfish {
        host: 0,
        target,
        url: url.clone(),
    };
    let mut machine = Machine::new(
        &spec.profile,
        Timing::instant(),
        ChaCha8Rng::seed_from_u64(1),
    );
    let faults = FaultSet::default();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut results = Vec::new();
    for op in ops {
        let mut host = HostBmc {
            bmc: &spec.bmc,
            profile: &spec.profile,
            name: &spec.name,
            machine: &mut machine,
            faults: &faults,
            fault_rng: &mut rng,
            node: uuid::Uuid::nil(),
        };
        results.push(
            operate(&route, op, &mut host, SimTime::from_secs(1))
                .map(drop)
                .map_err(|f| f.message),
        );
    }
    // Let POST finish: pending settings apply when the firmware boots.
    machine.tick(SimTime::from_secs(3600));
    (results, machine, url)
}

#[test]
fn bios_settings_wait_for_the_next_power_on_and_a_reset_restores_the_defaults() {
    let (results, machine, _) = run(&[
        BmcOp::PatchBiosSettings(attrs(json!({"PxeRetryCount": 5}))),
        BmcOp::SetPower(NodePower::Off),
        BmcOp::SetPower(NodePower::On),
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        machine.bios().current.get("PxeRetryCount"),
        Some(&BiosValue::Int(5))
    );
    let (results, machine, _) = run(&[
        BmcOp::PatchBiosSettings(attrs(json!({"PxeRetryCount": 5}))),
        BmcOp::ResetBios,
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(machine.bios().pending, machine.bios().defaults);
}

/// The text is what real Ironic 39 recorded for the same refusal by the fake BMC over the wire
/// (`ironic_clean_bios_compare`).
#[test]
fn a_refused_setting_reads_as_sushy_words_the_bmcs_answer() {
    let (results, machine, url) = run(&[BmcOp::PatchBiosSettings(attrs(
        json!({"NoSuchSetting": "On", "PxeRetryCount": 5}),
    ))]);
    assert_eq!(
        results,
        [Err(format!(
            "HTTP PATCH {url}/Bios/Settings returned code 400. Base.1.18.PropertyUnknown: The property Attributes/NoSuchSetting is not in the list of valid properties for the resource. Extended information: [{{'@odata.type': '#Message.v1_1_1.Message', 'Message': 'The property Attributes/NoSuchSetting is not in the list of valid properties for the resource.', 'MessageArgs': ['Attributes/NoSuchSetting'], 'MessageId': 'Base.1.18.PropertyUnknown', 'MessageSeverity': 'Critical', 'Resolution': 'Remove the unknown property from the request body and resubmit the request if the operation failed.'}}]"
        ))]
    );
    assert!(machine.bios().pending.is_empty(), "nothing queued half-way");
}
