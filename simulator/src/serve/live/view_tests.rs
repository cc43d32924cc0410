//! The live view's rows: what each machine state, fault and agent stage reads as.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::agent::inventory::tests::gpu_profile;
use crate::fault::{Latency, Window};
use crate::machine::{BiosValue, BootSource, Machine, MediaSlot, Timing, derive_rng};

fn machine(timing: Timing) -> Machine {
    Machine::new(&gpu_profile(), timing, derive_rng(1, "machine", 0))
}

/// The row of `m` at `now`, brought up to `now` first (as `Host::view` does).
fn row_of(m: &mut Machine, faults: &FaultSet, agent: &AgentView, now: SimTime) -> Row {
    m.tick(now);
    row(HostInput {
        index: 3,
        name: "rack-3",
        protocol: "redfish-virtualmedia",
        address: "redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/s3",
        machine: &m.view(),
        faults,
        agent,
        guest: None,
        now,
    })
}

fn t(secs: u64) -> SimTime {
    SimTime::ZERO + Duration::from_secs(secs)
}

#[test]
fn a_new_machine_is_off_booting_nothing_with_empty_disks_and_no_agent() {
    let mut m = machine(Timing::instant());
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    assert_eq!(r.i, 3);
    assert_eq!(r.state, "off");
    assert_eq!(r.power, "Off");
    assert_eq!(r.boot, "UEFI · order Hdd, Pxe");
    assert_eq!(r.booting, "");
    assert_eq!(r.agent, "none");
    assert!(
        r.disks
            .starts_with(&format!("{}: empty", m.disks()[0].name)),
        "{}",
        r.disks
    );
    assert_eq!(r.bios, "");
    assert_eq!(
        r.bmc,
        "redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/s3"
    );
    assert!(r.faults.is_empty());
}

#[test]
fn a_machine_powering_on_is_in_its_self_test_then_in_the_ramdisk_it_pxe_booted() {
    let mut m = machine(Timing::nominal());
    m.set_boot_override(SimTime::ZERO, BootSource::Pxe, OverrideMode::Once);
    m.power_on(SimTime::ZERO).unwrap();
    let during = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    assert_eq!(
        (during.state, during.power, during.booting.as_str()),
        ("powering-on", "PoweringOn", "power-on self test")
    );
    assert_eq!(during.boot, "UEFI · override Pxe (Once)");
    m.tick(t(3600));
    let after = row_of(&mut m, &FaultSet::none(), &AgentView::default(), t(3600));
    assert_eq!((after.state, after.power), ("ramdisk", "On"));
    let mac = gpu_profile().boot_mac().unwrap().to_string();
    assert_eq!(after.booting, format!("ramdisk by PXE from {mac}"));
    // The once-override was used up by that boot.
    assert_eq!(after.boot, "UEFI · order Hdd, Pxe");
}

#[test]
fn virtual_media_and_an_imaged_disk_read_as_what_was_booted() {
    let mut m = machine(Timing::instant());
    m.insert_media(
        SimTime::ZERO,
        MediaSlot::Cd,
        "http://127.0.0.1/ipa.iso",
        true,
    )
    .unwrap();
    m.set_boot_override(SimTime::ZERO, BootSource::Cd, OverrideMode::Once);
    m.power_on(SimTime::ZERO).unwrap();
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    assert_eq!(r.state, "ramdisk");
    assert_eq!(
        r.booting,
        "ramdisk from virtual media Cd: http://127.0.0.1/ipa.iso"
    );

    m.write_image(SimTime::ZERO, 0, "http://127.0.0.1/os.qcow2", "sha256:00")
        .unwrap();
    m.eject_media(SimTime::ZERO, MediaSlot::Cd);
    m.force_restart(SimTime::ZERO).unwrap();
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    let disk = m.disks()[0].name.clone();
    assert_eq!(r.state, "disk");
    assert_eq!(r.booting, format!("disk {disk}: http://127.0.0.1/os.qcow2"));
    assert!(
        r.disks
            .starts_with(&format!("{disk}: http://127.0.0.1/os.qcow2")),
        "{}",
        r.disks
    );

    m.wipe_partition_table(SimTime::ZERO, 0).unwrap();
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    assert!(r.disks.contains("(partition table wiped)"), "{}", r.disks);
}

#[test]
fn pending_bios_settings_and_legacy_mode_are_shown_until_the_reset_applies_them() {
    let mut m = machine(Timing::instant());
    let changes: BTreeMap<String, BiosValue> = [
        (
            "ProcHyperThreading".to_string(),
            BiosValue::Text("Disabled".into()),
        ),
        ("PxeRetryCount".to_string(), BiosValue::Int(5)),
    ]
    .into();
    m.patch_bios(SimTime::ZERO, changes).unwrap();
    m.set_boot_mode(SimTime::ZERO, crate::machine::BootMode::Legacy);
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    assert!(r.bios.contains("ProcHyperThreading=Disabled"), "{}", r.bios);
    assert!(r.bios.contains("PxeRetryCount=5"), "{}", r.bios);
    m.power_on(SimTime::ZERO).unwrap();
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    assert_eq!(r.bios, "", "applied at the boot");
    assert!(r.boot.starts_with("Legacy · "), "{}", r.boot);
}

#[test]
fn only_faults_in_effect_now_are_listed_each_in_words() {
    let faults = FaultSet {
        unreachable: vec![
            Window {
                from: Duration::from_secs(10),
                until: Some(Duration::from_secs(20)),
            },
            Window {
                from: Duration::from_secs(30),
                until: None,
            },
        ],
        http_5xx_rate: 0.25,
        http_5xx_status: Some(500),
        latency: Some(Latency {
            min: Duration::from_millis(100),
            max: Duration::from_millis(500),
        }),
        ipmi_packet_loss: 0.5,
        power_ack_no_effect_rate: 1.0,
        power_stick_rate: 1.0,
        firmware_update_fail_rate: 0.5,
        degraded: vec![crate::fault::Degraded {
            part: crate::fault::PartKind::Drive,
            index: 1,
            health: crate::fault::Health::Critical,
        }],
    };
    let at = |secs| super::faults(&faults, secs == 35, true, t(secs));
    assert_eq!(
        at(5),
        [
            "HTTP 500 on 25% of requests",
            "latency 0.1s–0.5s",
            "IPMI packet loss 50%",
            "power actions ignored 100%",
            "power actions stick 100% (stuck now)",
            "firmware updates fail 50%",
            "drive 1 critical",
        ]
    );
    assert_eq!(at(15)[0], "BMC unreachable until 20.0s");
    assert_eq!(
        at(25)[0],
        "HTTP 500 on 25% of requests",
        "the window closed"
    );
    let late = at(35);
    assert_eq!(late[0], "BMC unreachable");
    assert_eq!(late.last().unwrap(), "agent heartbeats lost");
    assert!(super::faults(&FaultSet::none(), false, false, t(1)).is_empty());
}

#[test]
fn a_stuck_machine_is_grouped_as_stuck_whatever_its_power() {
    let mut m = machine(Timing::nominal());
    m.power_on(SimTime::ZERO).unwrap();
    m.set_stuck(true);
    m.tick(t(3600));
    let r = row_of(&mut m, &FaultSet::none(), &AgentView::default(), t(3600));
    assert_eq!((r.state, r.power), ("stuck", "PoweringOn"));
}

#[test]
fn the_agent_reads_as_its_stage_and_last_command() {
    let mut m = machine(Timing::instant());
    let mut agent = |stage, last: Option<(&str, Status)>| {
        let a = AgentView {
            stage: Some(stage),
            last_command: last.map(|(n, s)| (n.to_string(), s)),
            heartbeat_loss: false,
        };
        row_of(&mut m, &FaultSet::none(), &a, SimTime::ZERO).agent
    };
    assert_eq!(agent(Stage::Negotiate { failures: 0 }, None), "negotiating");
    assert_eq!(
        agent(
            Stage::Lookup {
                since: Duration::ZERO,
                failures: 2
            },
            None
        ),
        "looking up (2 failed)"
    );
    assert_eq!(
        agent(
            Stage::Heartbeat,
            Some(("execute_deploy_step", Status::Running))
        ),
        "heartbeating · execute_deploy_step RUNNING"
    );
    assert_eq!(
        agent(Stage::Over(End::LookupGaveUp), None),
        "stopped: lookup gave up"
    );
}

#[test]
fn counts_cover_every_group_and_add_up_to_the_rows() {
    let mut on = machine(Timing::instant());
    on.power_on(SimTime::ZERO).unwrap();
    let mut off = machine(Timing::instant());
    let rows: Vec<Row> = [row_of(
        &mut on,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    )]
    .into_iter()
    .chain((0..2).map(|_| {
        row_of(
            &mut off,
            &FaultSet::none(),
            &AgentView::default(),
            SimTime::ZERO,
        )
    }))
    .collect();
    let c = counts(&rows);
    assert_eq!(c.len(), STATES.len());
    assert_eq!(c["off"], 2);
    // gpu_profile boots its empty disk, then PXE: a ramdisk.
    assert_eq!(c[rows[0].state], 1);
    assert_eq!(c.values().sum::<usize>(), 3);
}

#[test]
fn rows_serialise_as_flat_json_the_page_reads_by_field() {
    let mut m = machine(Timing::instant());
    let r = row_of(
        &mut m,
        &FaultSet::none(),
        &AgentView::default(),
        SimTime::ZERO,
    );
    let v = serde_json::to_value(Snapshot {
        now: 1.5,
        groups: &STATES,
        counts: counts([&r]),
        rows: &[r],
    })
    .unwrap();
    assert_eq!(v["now"], 1.5);
    assert_eq!(v["counts"]["off"], 1);
    assert_eq!(v["groups"][0], "off");
    let row = &v["rows"][0];
    for field in [
        "i", "name", "state", "power", "boot", "booting", "agent", "disks", "bios", "bmc", "faults",
    ] {
        assert!(row.get(field).is_some(), "{field} in {row}");
    }
}

#[test]
fn the_guest_reads_as_its_kubelet_and_what_cloud_init_could_not_do() {
    use crate::guest::{GuestStatus, KubeletState};
    let status = |kubelet: KubeletState, notes: Vec<String>| GuestStatus {
        boot: 2,
        image: "http://127.0.0.1:9/node.img".into(),
        hostname: Some("worker-0".into()),
        notes,
        kubelet,
    };
    let running = status(
        KubeletState::Running {
            node: "worker-0".into(),
        },
        vec![],
    );
    assert_eq!(
        guest(&running),
        "worker-0: Node worker-0 Ready (kubelet running)"
    );
    let refused = status(
        KubeletState::Refused {
            reason: "server 10.0.0.1: not on loopback".into(),
        },
        vec!["the config drive has no user data".into()],
    );
    assert_eq!(
        guest(&refused),
        "worker-0: kubelet refused: server 10.0.0.1: not on loopback; the config drive has no user data"
    );
    assert_eq!(guest(&status(KubeletState::NotANodeImage, vec![])), "");
    let m = machine(Timing::instant());
    let agent = AgentView::default();
    let shown = row(HostInput {
        index: 0,
        name: "w",
        protocol: "ipmi",
        address: "ipmi://127.0.0.1:623",
        machine: &m.view(),
        faults: &FaultSet::default(),
        agent: &agent,
        guest: Some(&running),
        now: t(0),
    });
    assert_eq!(shown.guest, guest(&running));
}
