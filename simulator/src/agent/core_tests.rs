//! Unit tests of the pure agent core.

use super::*;
use crate::agent::inventory::tests::gpu_profile;
use crate::machine::{Timing, derive_rng};
use std::collections::HashMap;

struct Store(HashMap<String, Vec<u8>>);
impl ImageStore for Store {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(url)
            .cloned()
            .ok_or_else(|| format!("404 for {url}"))
    }
}

/// An agent bound to its node on a machine that is on (an agent runs only on a running machine).
fn setup() -> (Agent, Machine) {
    let p = gpu_profile();
    let mut m = Machine::new(&p, Timing::instant(), derive_rng(1, "machine", 0));
    m.power_on(SimTime::ZERO).unwrap();
    let mut a = Agent::new("node-1", p, derive_rng(1, "agent", 0));
    a.bind(Binding {
        node_uuid: "u1".into(),
        token: "tok".into(),
        md5_allowed: false,
    });
    (a, m)
}

fn write_req(sum: &str) -> Request {
    Request::new(
        "deploy.execute_deploy_step",
        json!({"step": {"interface": "deploy", "step": "write_image", "args": {
            "image_info": {"id": "img", "urls": ["http://127.0.0.1:1/img.raw"],
                           "os_hash_algo": "sha256", "os_hash_value": sum, "disk_format": "raw"},
            "configdrive": "H4sI"}},
            "node": {"properties": {}}, "ports": [], "deploy_version": versions()}),
    )
    .unwrap()
}

fn store() -> Store {
    Store(HashMap::from([(
        "http://127.0.0.1:1/img.raw".to_string(),
        b"disk image bytes".to_vec(),
    )]))
}

#[test]
fn deploy_steps_are_non_empty_and_grouped_by_manager() {
    let (mut a, mut m) = setup();
    let (r, fetch) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("deploy.get_deploy_steps", json!({})).unwrap(),
        )
        .unwrap();
    assert!(fetch.is_none());
    assert_eq!(r.command_name, "get_deploy_steps");
    let steps = &r.command_result.unwrap()["deploy_steps"]["GenericHardwareManager"];
    assert!(
        steps
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "write_image")
    );
}

#[test]
fn write_image_lands_on_the_root_disk_after_checksum_verification() {
    let (mut a, mut m) = setup();
    let sum = image::HashAlgo::Sha256.hex_digest(b"disk image bytes");
    let r = a
        .execute_with(SimTime::ZERO, &mut m, write_req(&sum), &store())
        .unwrap();
    assert_eq!(r.command_status, Status::Succeeded, "{r:?}");
    let res = r.command_result.unwrap();
    assert_eq!(res["deploy_step"]["step"], "write_image");
    assert!(m.disks()[0].bootable());
    assert_eq!(
        m.disks()[0].image.as_ref().unwrap().url,
        "http://127.0.0.1:1/img.raw"
    );
    assert!(!m.disks()[1].bootable());
    // "H4sI" is the start of a gzip stream cut short: kept as unreadable, with the reason.
    assert!(matches!(
        a.written().unwrap().config_drive,
        Some(ConfigDrive::Unreadable { .. })
    ));
    let (uuids, _) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("standby.get_partition_uuids", json!({})).unwrap(),
        )
        .unwrap();
    assert!(
        uuids.command_result.unwrap()["root uuid"]
            .as_str()
            .unwrap()
            .starts_with("0x")
    );
}

/// The machine powers off while the image downloads: the step fails and the disk keeps what it
/// had (before, the download's end wrote the image onto a machine that was off).
#[test]
fn an_image_downloaded_after_the_machine_powered_off_is_not_written() {
    let (mut a, mut m) = setup();
    let sum = image::HashAlgo::Sha256.hex_digest(b"disk image bytes");
    let (r, fetch) = a.execute(SimTime::ZERO, &mut m, write_req(&sum)).unwrap();
    assert_eq!(r.command_status, Status::Running);
    let fetch = fetch.expect("write_image asks its shell for a download");
    m.force_off(SimTime::ZERO).unwrap();
    let done = a
        .finish_image(
            SimTime::ZERO,
            &mut m,
            &fetch.command_id,
            Ok(Downloaded {
                url: "http://127.0.0.1:1/img.raw",
                bytes: b"disk image bytes",
                checksum_text: None,
            }),
        )
        .expect("the running command completes");
    assert_eq!(done.command_status, Status::Failed, "{done:?}");
    assert!(
        done.command_error
            .as_ref()
            .is_some_and(|e| e.details.contains("powered off")),
        "{done:?}"
    );
    assert!(m.disks().iter().all(|d| !d.bootable()));
    assert!(a.written().is_none());
}

#[test]
fn checksum_mismatch_fails_the_step_and_leaves_the_disk_empty() {
    let (mut a, mut m) = setup();
    let r = a
        .execute_with(SimTime::ZERO, &mut m, write_req(&"0".repeat(64)), &store())
        .unwrap();
    assert_eq!(r.command_status, Status::Failed);
    let e = r.command_error.unwrap();
    assert_eq!(e.kind, "ImageChecksumError");
    assert!(
        e.details
            .contains("Image failed to verify against checksum"),
        "{}",
        e.details
    );
    assert!(m.disks().iter().all(|d| d.image.is_none()));
    let (boot, _) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("image.install_bootloader", json!({})).unwrap(),
        )
        .unwrap();
    assert_eq!(boot.command_status, Status::Failed);
}

#[test]
fn a_running_write_makes_the_agent_busy_until_the_image_arrives() {
    let (mut a, mut m) = setup();
    let sum = image::HashAlgo::Sha256.hex_digest(b"abc");
    let (r, fetch) = a.execute(SimTime::ZERO, &mut m, write_req(&sum)).unwrap();
    assert_eq!(r.command_status, Status::Running);
    let fetch = fetch.unwrap();
    let busy = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("standby.sync", json!({})).unwrap(),
        )
        .unwrap_err();
    assert_eq!(busy.status(), 409);
    let done = a
        .finish_image(
            SimTime::ZERO,
            &mut m,
            &fetch.command_id,
            Ok(Downloaded {
                url: &fetch.urls[0],
                bytes: b"abc",
                checksum_text: None,
            }),
        )
        .unwrap();
    assert_eq!(done.command_status, Status::Succeeded);
    assert_eq!(a.commands().len(), 1);
    assert_eq!(
        a.command(&fetch.command_id).unwrap().command_status,
        Status::Succeeded
    );
}

#[test]
fn clean_steps_wipe_partition_tables_and_erase_disks() {
    let (mut a, mut m) = setup();
    m.write_image(SimTime::ZERO, 0, "http://x/img", "sha256:1")
        .unwrap();
    m.write_image(SimTime::ZERO, 1, "http://x/img", "sha256:1")
        .unwrap();
    let (steps, _) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("clean.get_clean_steps", json!({})).unwrap(),
        )
        .unwrap();
    let list = steps.command_result.unwrap()["clean_steps"]["GenericHardwareManager"].clone();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "erase_devices_metadata" && s["priority"] == 99)
    );
    let step = json!({"interface": "deploy", "step": "erase_devices_metadata", "priority": 99});
    let (r, _) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new(
                "clean.execute_clean_step",
                json!({"step": step, "node": {}, "ports": []}),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(r.command_status, Status::Succeeded);
    assert_eq!(
        r.command_result.unwrap()["clean_step"]["step"],
        "erase_devices_metadata"
    );
    assert!(
        m.disks()
            .iter()
            .all(|d| !d.partition_table && d.image.is_some())
    );
    let step = json!({"interface": "deploy", "step": "erase_devices", "priority": 10});
    let (r, _) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new(
                "clean.execute_clean_step",
                json!({"step": step, "node": {}, "ports": []}),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(r.command_status, Status::Succeeded);
    assert!(m.disks().iter().all(|d| d.image.is_none()));
}

#[test]
fn a_changed_hardware_manager_version_is_a_version_mismatch() {
    let (mut a, mut m) = setup();
    let step = json!({"interface": "deploy", "step": "erase_devices", "priority": 10});
    let (r, _) = a
        .execute(SimTime::ZERO, &mut m, Request::new("clean.execute_clean_step",
            json!({"step": step, "node": {}, "ports": [], "clean_version": {"generic_hardware_manager": "0.9"}})).unwrap())
        .unwrap();
    assert_eq!(
        serde_json::to_value(r.command_status).unwrap(),
        "CLEAN_VERSION_MISMATCH"
    );
}

#[test]
fn tokens_are_checked_and_unknown_commands_refused() {
    let (mut a, mut m) = setup();
    assert!(a.authorize(Some("tok")).is_ok());
    assert_eq!(a.authorize(Some("nope")), Err(AgentError::TokenInvalid));
    assert_eq!(a.authorize(None), Err(AgentError::TokenInvalid));
    let unbound = Agent::new("n", gpu_profile(), derive_rng(1, "agent", 1));
    assert_eq!(
        unbound.authorize(Some("tok")),
        Err(AgentError::TokenInvalid)
    );
    let e = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("bogus.run", json!({})).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.status(), 404);
    let e = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("standby.bogus", json!({})).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(a.commands().is_empty());
}

/// A write_image request whose node carries `node` (properties, instance_info).
fn write_req_on(sum: &str, node: Value) -> Request {
    let mut req = write_req(sum);
    req.params.insert("node".into(), node);
    req
}

#[test]
fn the_instance_root_device_hints_win_over_the_nodes() {
    let sum = image::HashAlgo::Sha256.hex_digest(b"disk image bytes");
    let (mut a, mut m) = setup();
    let node = json!({"properties": {"root_device": {"name": "/dev/sda"}},
                      "instance_info": {"root_device": {"name": "s== /dev/sdb"}}});
    let r = a
        .execute_with(SimTime::ZERO, &mut m, write_req_on(&sum, node), &store())
        .unwrap();
    assert_eq!(r.command_status, Status::Succeeded, "{r:?}");
    assert!(m.disks()[1].bootable() && !m.disks()[0].bootable());

    // A hint for a disk the machine lacks fails the step, as IPA does.
    let (mut a, mut m) = setup();
    let node =
        json!({"properties": {}, "instance_info": {"root_device": {"name": "s== /dev/vdz"}}});
    let r = a
        .execute_with(SimTime::ZERO, &mut m, write_req_on(&sum, node), &store())
        .unwrap();
    assert_eq!(r.command_status, Status::Failed, "{r:?}");
    assert!(m.disks().iter().all(|d| !d.bootable()));
}

#[test]
fn root_device_hints_pick_the_matching_disk() {
    let p = gpu_profile();
    assert_eq!(root_disk_index(&p, None), Ok(0));
    assert_eq!(
        root_disk_index(&p, Some(&json!({"name": "/dev/sdb"}))),
        Ok(1)
    );
    assert_eq!(
        root_disk_index(&p, Some(&json!({"size": ">= 1000"}))),
        Ok(1)
    );
    assert_eq!(
        root_disk_index(&p, Some(&json!({"rotational": false}))),
        Ok(0)
    );
    assert!(root_disk_index(&p, Some(&json!({"serial": "nope"}))).is_err());
}

#[test]
fn hint_names_ironic_does_not_know_are_refused_with_its_text() {
    let p = gpu_profile();
    let err = root_disk_index(
        &p,
        Some(&json!({"deviceName": "/dev/sdb", "name": "/dev/sdb"})),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "The hints \"deviceName\" are invalid. Valid hints are: \"size, model, wwn, serial, \
         vendor, wwn_with_extension, wwn_vendor_extension, name, rotational, hctl, by_path\""
    );
}

#[test]
fn power_off_shuts_the_machine_down() {
    let (mut a, mut m) = setup();
    m.power_on(SimTime::ZERO).unwrap();
    m.tick(SimTime::ZERO);
    let (r, _) = a
        .execute(
            SimTime::ZERO,
            &mut m,
            Request::new("standby.power_off", json!({})).unwrap(),
        )
        .unwrap();
    assert_eq!(r.command_status, Status::Succeeded);
    m.tick(SimTime::from_secs(1));
    assert_eq!(m.power(), crate::machine::PowerState::Off);
}
