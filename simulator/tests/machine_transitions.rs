//! The machine model's transition table: power latency, boot decisions, BIOS, media and disks.

use std::collections::BTreeMap;
use std::time::Duration;

use metal_sim::machine::{
    Ack, BiosInfo, BiosRefusal, BiosValue, BootMode, BootOutcome, BootSource, CpuInfo, Disk,
    DiskKind, HardwareProfile, Machine, MachineError, MachineEvent, MediaSlot, MemoryInfo, Nic,
    OverrideMode, PowerState, RamdiskSource, SimTime, SystemInfo, Timing, derive_rng,
};

const MAC: &str = "52:54:00:aa:bb:01";

fn profile() -> HardwareProfile {
    HardwareProfile {
        profile: "test".into(),
        system: SystemInfo {
            vendor: "Acme".into(),
            model: "T1".into(),
            serial: "SN1".into(),
            sku: "SKU1".into(),
            uuid: uuid::Uuid::from_u128(1),
        },
        bios: BiosInfo {
            vendor: "Acme".into(),
            version: "1.0".into(),
            date: "2025-01-01".into(),
        },
        cpu: CpuInfo {
            arch: "x86_64".into(),
            model: "Test CPU".into(),
            count: 1,
            cores: 4,
            threads_per_core: 2,
            mhz: 2000,
            flags: vec!["vmx".into()],
        },
        memory: MemoryInfo {
            total_mib: 8192,
            dimms: 2,
            speed_mts: 3200,
        },
        nics: vec![Nic {
            name: "eno1".into(),
            mac: MAC.into(),
            speed_mbps: 10_000,
            pxe: true,
            vendor: "Acme".into(),
            model: "N1".into(),
            lldp: None,
        }],
        disks: vec![Disk {
            name: "/dev/sda".into(),
            kind: DiskKind::Ssd,
            size_bytes: 480_000_000_000,
            vendor: "Acme".into(),
            model: "D1".into(),
            serial: "DS1".into(),
            wwn: "0x5000000000000001".into(),
            rotational: false,
            hctl: "0:0:0:0".into(),
        }],
        pcie: vec![],
        firmware: vec![],
    }
}

/// Fixed latencies (no jitter) so the table below can name exact instants.
fn timing() -> Timing {
    Timing {
        power_on: Duration::from_secs(4),
        force_off: Duration::from_secs(1),
        graceful_shutdown: Duration::from_secs(8),
        reset: Duration::from_secs(3),
        jitter: 0.0,
    }
}

fn machine() -> Machine {
    Machine::new(&profile(), timing(), derive_rng(1, "machine", 0))
}

fn t(secs: u64) -> SimTime {
    SimTime::from_secs(secs)
}

fn booted(m: &mut Machine) -> Vec<BootOutcome> {
    m.take_events()
        .into_iter()
        .filter_map(|e| match e {
            MachineEvent::Booted { record } => Some(record.outcome),
            _ => None,
        })
        .collect()
}

fn pxe() -> BootOutcome {
    BootOutcome::Ramdisk {
        via: RamdiskSource::Pxe { mac: MAC.into() },
    }
}

#[test]
fn power_on_passes_through_powering_on_for_the_configured_latency() {
    let mut m = machine();
    assert_eq!(m.power(), PowerState::Off);
    assert_eq!(m.power_on(t(10)), Ok(Ack::Started));
    m.tick(t(13));
    assert_eq!(m.power(), PowerState::PoweringOn);
    assert_eq!(m.next_deadline(), Some(t(14)));
    m.tick(t(14));
    assert_eq!(m.power(), PowerState::On);
    assert_eq!(m.power_on(t(15)), Ok(Ack::Unchanged));
}

#[test]
fn transition_table_matches_the_documented_rows() {
    // (action, machine on?, expected result, power right after, power after 10 s)
    type Action = fn(&mut Machine, SimTime) -> Result<Ack, MachineError>;
    type Row = (
        &'static str,
        Action,
        bool,
        Result<Ack, MachineError>,
        PowerState,
        PowerState,
    );
    let rows: Vec<Row> = vec![
        (
            "on/off",
            Machine::power_on,
            false,
            Ok(Ack::Started),
            PowerState::PoweringOn,
            PowerState::On,
        ),
        (
            "on/on",
            Machine::power_on,
            true,
            Ok(Ack::Unchanged),
            PowerState::On,
            PowerState::On,
        ),
        (
            "forceoff/on",
            Machine::force_off,
            true,
            Ok(Ack::Started),
            PowerState::PoweringOff,
            PowerState::Off,
        ),
        (
            "forceoff/off",
            Machine::force_off,
            false,
            Ok(Ack::Unchanged),
            PowerState::Off,
            PowerState::Off,
        ),
        (
            "shutdown/on",
            Machine::graceful_shutdown,
            true,
            Ok(Ack::Started),
            PowerState::PoweringOff,
            PowerState::Off,
        ),
        (
            "shutdown/off",
            Machine::graceful_shutdown,
            false,
            Err(MachineError::PoweredOff {
                action: "GracefulShutdown",
            }),
            PowerState::Off,
            PowerState::Off,
        ),
        (
            "restart/on",
            Machine::graceful_restart,
            true,
            Ok(Ack::Started),
            PowerState::PoweringOff,
            PowerState::PoweringOn,
        ),
        (
            "forcerestart/on",
            Machine::force_restart,
            true,
            Ok(Ack::Started),
            PowerState::On,
            PowerState::On,
        ),
        (
            "forcerestart/off",
            Machine::force_restart,
            false,
            Err(MachineError::PoweredOff {
                action: "ForceRestart",
            }),
            PowerState::Off,
            PowerState::Off,
        ),
        (
            "cycle/on",
            Machine::power_cycle,
            true,
            Ok(Ack::Started),
            PowerState::PoweringOff,
            PowerState::On,
        ),
        (
            "cycle/off",
            Machine::power_cycle,
            false,
            Err(MachineError::PoweredOff {
                action: "PowerCycle",
            }),
            PowerState::Off,
            PowerState::Off,
        ),
        (
            "nmi/on",
            Machine::nmi,
            true,
            Ok(Ack::Started),
            PowerState::On,
            PowerState::On,
        ),
        (
            "nmi/off",
            Machine::nmi,
            false,
            Err(MachineError::PoweredOff { action: "Nmi" }),
            PowerState::Off,
            PowerState::Off,
        ),
        (
            "button/off",
            Machine::push_power_button,
            false,
            Ok(Ack::Started),
            PowerState::PoweringOn,
            PowerState::On,
        ),
        (
            "button/on",
            Machine::push_power_button,
            true,
            Ok(Ack::Started),
            PowerState::PoweringOff,
            PowerState::Off,
        ),
    ];
    for (name, action, on, expected, right_after, later) in rows {
        let mut m = machine();
        let start = if on {
            m.power_on(t(0)).unwrap();
            m.tick(t(5));
            assert_eq!(m.power(), PowerState::On, "{name}: setup");
            t(5)
        } else {
            t(0)
        };
        assert_eq!(action(&mut m, start), expected, "{name}: result");
        assert_eq!(m.power(), right_after, "{name}: right after");
        m.tick(start + Duration::from_secs(10));
        assert_eq!(m.power(), later, "{name}: 10 s later");
    }
}

#[test]
fn fresh_machine_with_empty_disk_falls_through_the_boot_order_to_pxe() {
    let mut m = machine();
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    assert_eq!(booted(&mut m), vec![pxe()]);
    assert_eq!(m.last_boot().unwrap().source, Some(BootSource::Pxe));
}

#[test]
fn empty_disk_override_gives_no_bootable_device() {
    let mut m = machine();
    m.set_boot_override(t(0), BootSource::Hdd, OverrideMode::Continuous);
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    assert_eq!(booted(&mut m), vec![BootOutcome::NoBootableDevice]);
}

#[test]
fn once_override_is_consumed_by_one_boot_and_continuous_is_kept() {
    let mut m = machine();
    m.write_image(t(0), 0, "http://img/os.qcow2", "sha256:ab")
        .unwrap();
    m.set_boot_override(t(0), BootSource::Pxe, OverrideMode::Once);
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    assert_eq!(booted(&mut m), vec![pxe()]);
    assert_eq!(m.boot_override().mode, OverrideMode::Disabled);
    m.force_restart(t(5)).unwrap();
    m.tick(t(8));
    let disk = BootOutcome::Disk {
        disk: "/dev/sda".into(),
        image: "http://img/os.qcow2".into(),
    };
    assert_eq!(booted(&mut m), vec![disk]);

    m.set_boot_override(t(9), BootSource::Pxe, OverrideMode::Continuous);
    for i in 0..2u64 {
        m.force_restart(t(10 + i * 10)).unwrap();
        m.tick(t(10 + i * 10 + 3));
        assert_eq!(booted(&mut m), vec![pxe()]);
        assert_eq!(m.boot_override().mode, OverrideMode::Continuous);
    }
}

#[test]
fn power_cycle_reboots_once_after_off_and_on_halves() {
    let mut m = machine();
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    m.take_events();
    m.power_cycle(t(5)).unwrap();
    m.tick(t(6));
    assert_eq!(m.power(), PowerState::PoweringOn);
    m.tick(t(10));
    assert_eq!(m.power(), PowerState::On);
    let powers: Vec<PowerState> = m
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            MachineEvent::PowerChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        powers,
        vec![
            PowerState::PoweringOff,
            PowerState::Off,
            PowerState::PoweringOn,
            PowerState::On
        ]
    );
}

#[test]
fn virtual_media_boot_starts_a_ramdisk_from_the_inserted_image() {
    let mut m = machine();
    m.insert_media(t(0), MediaSlot::Cd, "http://img/ipa.iso", true)
        .unwrap();
    assert_eq!(
        m.insert_media(t(0), MediaSlot::Cd, "http://img/other.iso", true),
        Err(MachineError::MediaSlotBusy {
            slot: MediaSlot::Cd
        })
    );
    m.set_boot_override(t(0), BootSource::Cd, OverrideMode::Once);
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    let via = RamdiskSource::VirtualMedia {
        slot: MediaSlot::Cd,
        image: "http://img/ipa.iso".into(),
    };
    assert_eq!(booted(&mut m), vec![BootOutcome::Ramdisk { via }]);
    assert_eq!(m.eject_media(t(5), MediaSlot::Cd), Ack::Started);
    assert!(!m.media(MediaSlot::Cd).inserted());
}

#[test]
fn cd_override_without_media_gives_no_bootable_device() {
    let mut m = machine();
    m.set_boot_override(t(0), BootSource::Cd, OverrideMode::Once);
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    assert_eq!(booted(&mut m), vec![BootOutcome::NoBootableDevice]);
}

#[test]
fn pending_bios_settings_apply_only_at_the_next_reset() {
    let mut m = machine();
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    let patch = BTreeMap::from([
        (
            "ProcVirtualization".to_string(),
            BiosValue::Text("Disabled".into()),
        ),
        ("BootMode".to_string(), BiosValue::Text("Legacy".into())),
    ]);
    assert_eq!(m.patch_bios(t(5), patch), Ok(Ack::Queued));
    assert_eq!(
        m.bios().current["ProcVirtualization"],
        BiosValue::Text("Enabled".into())
    );
    assert_eq!(m.boot_mode(), BootMode::Uefi);
    m.force_restart(t(6)).unwrap();
    m.tick(t(9));
    assert_eq!(
        m.bios().current["ProcVirtualization"],
        BiosValue::Text("Disabled".into())
    );
    assert!(m.bios().pending.is_empty());
    assert_eq!(m.boot_mode(), BootMode::Legacy);
}

#[test]
fn bios_patch_with_an_unknown_or_mistyped_attribute_changes_nothing() {
    let mut m = machine();
    let bad = BTreeMap::from([
        (
            "ProcVirtualization".to_string(),
            BiosValue::Text("Disabled".into()),
        ),
        ("NoSuchThing".to_string(), BiosValue::Int(1)),
    ]);
    assert_eq!(
        m.patch_bios(t(0), bad),
        Err(MachineError::BiosSettingRefused(BiosRefusal::Unknown {
            name: "NoSuchThing".into()
        }))
    );
    let mistyped = BTreeMap::from([("PxeRetryCount".to_string(), BiosValue::Text("three".into()))]);
    assert_eq!(
        m.patch_bios(t(0), mistyped),
        Err(MachineError::BiosSettingRefused(BiosRefusal::WrongType {
            name: "PxeRetryCount".into(),
            expected: "Integer",
            value: "\"three\"".into(),
        }))
    );
    let out_of_range = BTreeMap::from([
        (
            "ProcVirtualization".to_string(),
            BiosValue::Text("Disabled".into()),
        ),
        ("PxeRetryCount".to_string(), BiosValue::Int(99)),
    ]);
    assert!(matches!(
        m.patch_bios(t(0), out_of_range),
        Err(MachineError::BiosSettingRefused(
            BiosRefusal::OutOfRange { .. }
        ))
    ));
    assert!(m.bios().pending.is_empty());
}

#[test]
fn wiping_the_partition_table_makes_the_disk_unbootable() {
    let mut m = machine();
    m.write_image(t(0), 0, "http://img/os.qcow2", "sha256:ab")
        .unwrap();
    m.set_boot_order(t(0), vec![BootSource::Hdd]).unwrap();
    assert_eq!(m.wipe_partition_table(t(0), 0), Ok(Ack::Started));
    assert!(
        m.disks()[0].image.is_some(),
        "data stays, only the table goes"
    );
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    assert_eq!(booted(&mut m), vec![BootOutcome::NoBootableDevice]);
    assert_eq!(
        m.write_image(t(5), 3, "x", "y"),
        Err(MachineError::NoSuchDisk { index: 3, count: 1 })
    );
}

#[test]
fn secure_boot_needs_uefi_and_legacy_mode_turns_it_off() {
    let mut m = machine();
    assert_eq!(m.set_secure_boot(t(0), true), Ok(Ack::Started));
    m.set_boot_mode(t(0), BootMode::Legacy);
    assert!(!m.secure_boot());
    assert_eq!(
        m.set_secure_boot(t(0), true),
        Err(MachineError::SecureBootNeedsUefi)
    );
}

#[test]
fn uefi_http_boot_needs_uefi_mode() {
    let mut m = machine();
    m.set_boot_mode(t(0), BootMode::Legacy);
    m.set_boot_override(t(0), BootSource::UefiHttp, OverrideMode::Once);
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    assert_eq!(booted(&mut m), vec![BootOutcome::NoBootableDevice]);
}

#[test]
fn a_stuck_machine_stays_in_transition_until_released() {
    let mut m = machine();
    m.power_on(t(0)).unwrap();
    m.set_stuck(true);
    m.tick(t(100));
    assert_eq!(m.power(), PowerState::PoweringOn);
    m.set_stuck(false);
    m.tick(t(101));
    assert_eq!(m.power(), PowerState::On);
}

#[test]
fn force_off_during_graceful_shutdown_finishes_sooner() {
    let mut m = machine();
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    m.graceful_shutdown(t(5)).unwrap();
    m.force_off(t(6)).unwrap();
    m.tick(t(7));
    assert_eq!(m.power(), PowerState::Off);
}

#[test]
fn power_on_while_powering_off_is_queued_and_boots_afterwards() {
    let mut m = machine();
    m.power_on(t(0)).unwrap();
    m.tick(t(4));
    m.graceful_shutdown(t(5)).unwrap();
    assert_eq!(m.power_on(t(6)), Ok(Ack::Queued));
    m.tick(t(12));
    assert_eq!(m.power(), PowerState::PoweringOff);
    m.tick(t(13));
    assert_eq!(
        m.power(),
        PowerState::PoweringOn,
        "the off half ends and the on half starts"
    );
    m.tick(t(17));
    assert_eq!(m.power(), PowerState::On);
}

#[test]
fn jitter_is_reproducible_for_a_seed_and_differs_between_hosts() {
    let jittery = Timing {
        jitter: 0.5,
        ..timing()
    };
    let deadline = |seed: u64, host: u64| {
        let mut m = Machine::new(&profile(), jittery, derive_rng(seed, "machine", host));
        m.power_on(t(0)).unwrap();
        m.next_deadline().unwrap()
    };
    assert_eq!(deadline(42, 3), deadline(42, 3));
    assert_ne!(deadline(42, 3), deadline(42, 4));
    let d = deadline(42, 3).since_start();
    assert!(
        d >= Duration::from_secs(2) && d <= Duration::from_secs(6),
        "{d:?}"
    );
}

#[test]
fn timing_scale_compresses_every_duration() {
    let s = Timing::nominal().scaled(0.01);
    assert_eq!(s.power_on, Timing::nominal().power_on / 100);
    assert_eq!(Timing::nominal().scaled(-1.0).power_on, Duration::ZERO);
}
