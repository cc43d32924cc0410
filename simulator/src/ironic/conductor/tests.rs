use super::*;
use crate::ironic::version::Version;
use chrono::TimeZone;
use serde_json::json;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time")
}

pub(super) fn conductor_with(driver: &str) -> (Conductor, Uuid) {
    let mut c = Conductor::new(Settings::default());
    let uuid = Uuid::from_u128(1);
    let mut n = Node::new(1, uuid, driver, t0(), Version::v1(115));
    if driver == "redfish" {
        n.driver_info
            .insert("redfish_address".into(), json!("http://127.0.0.1:1"));
    }
    c.nodes.insert(n);
    (c, uuid)
}

/// Steps the conductor for `ms` milliseconds in 10 ms ticks, answering BMC calls with `bmc` (agent
/// calls fail: these tests have no agent).
fn run(
    c: &mut Conductor,
    start: DateTime<Utc>,
    ms: i64,
    bmc: &mut dyn FnMut(&DriverCall) -> Result<CallResult, String>,
) -> (DateTime<Utc>, Vec<String>) {
    run_calls(c, start, ms, &mut |call| match call {
        Call::Bmc(b) => bmc(b),
        Call::Agent(_) => Err("no agent in this test".into()),
    })
}

/// Like `run`, answering every call with `answer`.
pub(super) fn run_calls(
    c: &mut Conductor,
    start: DateTime<Utc>,
    ms: i64,
    answer: &mut dyn FnMut(&Call) -> Result<CallResult, String>,
) -> (DateTime<Utc>, Vec<String>) {
    let mut now = start;
    let mut seen = Vec::new();
    for _ in 0..(ms / 10) {
        for call in c.step(now) {
            let out = answer(&call);
            c.complete(call.id(), out, now);
        }
        for n in c.nodes.values() {
            let s = n.provision_state.as_str().to_string();
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
        now += TimeDelta::milliseconds(10);
    }
    (now, seen)
}

fn ok(_: &DriverCall) -> Result<CallResult, String> {
    Ok(CallResult::Done)
}

#[test]
fn fake_hardware_walks_the_whole_lifecycle() {
    let (mut c, u) = conductor_with("fake-hardware");
    let mut now = t0();
    let mut states = Vec::new();
    for action in ["manage", "provide", "active", "deleted"] {
        c.provision(u, action, None, now).expect(action);
        let (n, seen) = run(&mut c, now, 400, &mut ok);
        now = n;
        states.extend(seen);
    }
    assert_eq!(
        states,
        [
            "verifying",
            "manageable",
            "cleaning",
            "available",
            "deploying",
            "active",
            "deleting",
            "available"
        ]
    );
    assert_eq!(c.nodes[&u].target_provision_state, None);
    assert!(!c.is_locked(u));
}

#[test]
fn targets_not_allowed_from_a_state_are_refused_with_ironics_text() {
    let (mut c, u) = conductor_with("fake-hardware");
    let cases = [
        ("provide", "enroll"),
        ("active", "enroll"),
        ("bogus", "enroll"),
        ("clean", "enroll"),
    ];
    for (action, state) in cases {
        let err = c
            .provision(u, action, Some(vec![]), t0())
            .expect_err(action);
        assert_eq!(
            err.to_string(),
            format!(
                "The requested action \"{action}\" can not be performed on node \"{u}\" while it is in state \"{state}\"."
            )
        );
    }
}

#[test]
fn a_busy_node_is_locked_until_its_job_finishes() {
    let (mut c, u) = conductor_with("fake-hardware");
    c.provision(u, "manage", None, t0()).expect("manage");
    assert!(matches!(
        c.provision(u, "manage", None, t0()),
        Err(ApiError::NodeLocked(_))
    ));
    assert_eq!(c.nodes[&u].reservation.as_deref(), Some("localhost"));
    run(&mut c, t0(), 200, &mut ok);
    assert_eq!(c.nodes[&u].reservation, None);
    assert!(c.provision(u, "provide", None, t0()).is_ok());
}

#[test]
fn manual_clean_requires_clean_steps_and_fails_on_unsupported_ones() {
    let (mut c, u) = conductor_with("fake-hardware");
    c.provision(u, "manage", None, t0()).expect("manage");
    let (now, _) = run(&mut c, t0(), 200, &mut ok);
    assert!(matches!(
        c.provision(u, "clean", None, now),
        Err(ApiError::BadRequest(_))
    ));
    let step = json!({"interface": "deploy", "step": "erase_devices_metadata"});
    c.provision(u, "clean", Some(vec![step]), now)
        .expect("clean");
    run(&mut c, now, 200, &mut ok);
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::CleanFailed);
    assert_eq!(n.target_provision_state, Some(ProvisionState::Manageable));
    assert_eq!(
        n.last_error.as_deref(),
        Some(format!("Cannot clean node {u}: node does not support this clean step: {{'interface': 'deploy', 'step': 'erase_devices_metadata'}}").as_str())
    );
}

#[test]
fn ramdisk_deploy_drives_power_and_boot_device_through_the_bmc_without_an_agent() {
    let (mut c, u) = conductor_with("redfish");
    c.nodes
        .get_mut(&u)
        .expect("node")
        .interfaces
        .insert("deploy".into(), json!("ramdisk"));
    let mut ops = Vec::new();
    let mut bmc = |call: &DriverCall| {
        ops.push(call.op.clone());
        match call.op {
            BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
            _ => Ok(CallResult::Done),
        }
    };
    let mut now = t0();
    for action in ["manage", "provide", "active"] {
        c.provision(u, action, None, now).expect(action);
        now = run(&mut c, now, 500, &mut bmc).0;
    }
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Active);
    assert_eq!(c.nodes[&u].power_state, Some(NodePower::On));
    let deploy: Vec<BmcOp> = ops
        .iter()
        .filter(|&o| {
            !matches!(
                o,
                BmcOp::GetPower | BmcOp::GetBios | BmcOp::GetBootMode | BmcOp::GetHealth
            )
        })
        .cloned()
        .collect();
    assert_eq!(
        deploy,
        [
            BmcOp::SetPower(NodePower::Off),
            BmcOp::SetBootDevice(BootDevice::Pxe),
            BmcOp::SetPower(NodePower::On),
        ]
    );
}

#[test]
fn manage_caches_the_bios_settings_and_a_failed_read_keeps_the_node_going() {
    let (mut c, u) = conductor_with("redfish");
    let mut ops = Vec::new();
    c.provision(u, "manage", None, t0()).expect("manage");
    run(&mut c, t0(), 200, &mut |call: &DriverCall| {
        ops.push(call.op.clone());
        match call.op {
            BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
            BmcOp::GetBios => Ok(CallResult::Bios {
                attributes: json!({"BootMode": "Uefi", "Count": 2, "Flag": true})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                registry: Default::default(),
            }),
            _ => Ok(CallResult::Done),
        }
    });
    assert_eq!(
        ops,
        [BmcOp::GetPower, BmcOp::GetBootMode, BmcOp::GetBios],
        "verification reads power, then the boot mode, then BIOS"
    );
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::Manageable);
    let cached: Vec<(&str, Option<&str>)> = n
        .bios
        .iter()
        .map(|b| (b.name.as_str(), b.value.as_deref()))
        .collect();
    assert_eq!(
        cached,
        [
            ("BootMode", Some("Uefi")),
            ("Count", Some("2")),
            ("Flag", Some("1"))
        ]
    );

    // A second verification whose BIOS read fails still ends manageable, the cache as it was.
    let (mut c2, u2) = conductor_with("redfish");
    c2.nodes.get_mut(&u2).expect("node").bios = n.bios.clone();
    c2.provision(u2, "manage", None, t0()).expect("manage");
    run(&mut c2, t0(), 200, &mut |call: &DriverCall| match call.op {
        BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
        _ => Err("the BMC has no Bios resource".into()),
    });
    assert_eq!(c2.nodes[&u2].provision_state, ProvisionState::Manageable);
    assert_eq!(c2.nodes[&u2].bios.len(), 3);
    assert_eq!(c2.nodes[&u2].last_error, None);

    // The ipmi hardware type has no BIOS interface: nothing is read.
    let (mut c3, u3) = conductor_with("ipmi");
    let mut ops3 = Vec::new();
    c3.provision(u3, "manage", None, t0()).expect("manage");
    run(&mut c3, t0(), 200, &mut |call: &DriverCall| {
        ops3.push(call.op.clone());
        Ok(CallResult::Power(NodePower::Off))
    });
    assert!(!ops3.contains(&BmcOp::GetBios));
}

#[test]
fn manage_caches_firmware_components_only_with_the_redfish_firmware_interface() {
    let reported = |bios: &str| {
        vec![crate::ironic::model::ReportedComponent {
            component: "bios".into(),
            current_version: bios.into(),
            vendor: None,
            model: None,
            serial_number: None,
        }]
    };
    // The default `no-firmware` interface reads nothing.
    let (mut c, u) = conductor_with("redfish");
    let mut ops = Vec::new();
    c.provision(u, "manage", None, t0()).expect("manage");
    run(&mut c, t0(), 200, &mut |call: &DriverCall| {
        ops.push(call.op.clone());
        Ok(CallResult::Power(NodePower::Off))
    });
    assert!(!ops.contains(&BmcOp::GetFirmware));
    assert!(c.nodes[&u].firmware.is_empty());

    // With `redfish`, verification reads the components after the BIOS settings.
    let (mut c, u) = conductor_with("redfish");
    c.nodes
        .get_mut(&u)
        .expect("node")
        .interfaces
        .insert("firmware".into(), json!("redfish"));
    let mut ops = Vec::new();
    c.provision(u, "manage", None, t0()).expect("manage");
    run(&mut c, t0(), 200, &mut |call: &DriverCall| {
        ops.push(call.op.clone());
        match call.op {
            BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
            BmcOp::GetFirmware => Ok(CallResult::Firmware(reported("1.2"))),
            _ => Ok(CallResult::Done),
        }
    });
    assert_eq!(
        ops,
        [
            BmcOp::GetPower,
            BmcOp::GetBootMode,
            BmcOp::GetBios,
            BmcOp::GetFirmware
        ]
    );
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::Manageable);
    assert_eq!(n.firmware.len(), 1);
    assert_eq!(n.firmware[0].initial_version, "1.2");

    // A failed read, or a BMC reporting nothing, keeps the node going and the cache as it was.
    for answer in [
        Err("no Manager".to_string()),
        Ok(CallResult::Firmware(Vec::new())),
    ] {
        let (mut c2, u2) = conductor_with("redfish");
        let node = c2.nodes.get_mut(&u2).expect("node");
        node.interfaces.insert("firmware".into(), json!("redfish"));
        node.firmware = n.firmware.clone();
        c2.provision(u2, "manage", None, t0()).expect("manage");
        run(&mut c2, t0(), 200, &mut |call: &DriverCall| match call.op {
            BmcOp::GetPower => Ok(CallResult::Power(NodePower::Off)),
            BmcOp::GetFirmware => answer.clone(),
            _ => Ok(CallResult::Done),
        });
        assert_eq!(c2.nodes[&u2].provision_state, ProvisionState::Manageable);
        assert_eq!(c2.nodes[&u2].firmware, n.firmware);
        assert_eq!(c2.nodes[&u2].last_error, None);
    }
}

#[test]
fn an_unreachable_bmc_sends_manage_back_to_enroll_with_last_error() {
    let (mut c, u) = conductor_with("redfish");
    c.provision(u, "manage", None, t0()).expect("manage");
    run(&mut c, t0(), 100, &mut |_| Err("connection refused".into()));
    let n = &c.nodes[&u];
    assert_eq!(n.provision_state, ProvisionState::Enroll);
    assert_eq!(
        n.last_error.as_deref(),
        Some(format!("Failed to get power state for node {u}. Error: connection refused").as_str())
    );
    assert!(!c.is_locked(u));
}

#[test]
fn a_failed_power_change_reports_the_target_and_unlocks() {
    let (mut c, u) = conductor_with("redfish");
    c.power("n", u, "power on", t0()).expect("power");
    run(&mut c, t0(), 50, &mut |_| Err("boom".into()));
    let n = &c.nodes[&u];
    assert_eq!(n.target_power_state, None);
    assert_eq!(
        n.last_error.as_deref(),
        Some("Failed to change power state to 'power on' by 'power on'. Error: boom")
    );
}

#[test]
fn repeated_power_sync_failures_become_a_power_failure_fault_and_recover() {
    let (mut c, u) = conductor_with("redfish");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    let mut now = t0();
    for _ in 0..POWER_SYNC_MAX_RETRIES {
        run(&mut c, now, 20, &mut |_| Err("timeout".into()));
        now += TimeDelta::seconds(61);
    }
    let n = &c.nodes[&u];
    assert!(n.maintenance);
    assert_eq!(n.fault.as_deref(), Some("power failure"));
    run(&mut c, now, 20, &mut |_| {
        Ok(CallResult::Power(NodePower::On))
    });
    let n = &c.nodes[&u];
    assert!(!n.maintenance);
    assert_eq!(n.fault, None);
    assert_eq!(n.power_state, Some(NodePower::On));
}

#[test]
fn power_sync_caches_boot_mode_and_health_and_a_health_change_is_recorded_once() {
    let (mut c, u) = conductor_with("redfish");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    let mut health = "OK";
    let mut now = t0();
    let mut ops = Vec::new();
    for round in 0..3 {
        if round == 2 {
            health = "Critical";
        }
        run(&mut c, now, 100, &mut |call: &DriverCall| {
            ops.push(call.op.clone());
            Ok(match call.op {
                BmcOp::GetPower => CallResult::Power(NodePower::On),
                BmcOp::GetBootMode => CallResult::BootMode {
                    boot_mode: Some("uefi".into()),
                    secure_boot: Some(false),
                },
                BmcOp::GetHealth => CallResult::Health(Some(health.into())),
                _ => CallResult::Done,
            })
        });
        now += TimeDelta::seconds(61);
    }
    assert_eq!(
        &ops[..3],
        [BmcOp::GetPower, BmcOp::GetBootMode, BmcOp::GetHealth]
    );
    let n = &c.nodes[&u];
    assert_eq!(n.misc["boot_mode"], json!("uefi"));
    assert_eq!(n.misc["secure_boot"], json!(false));
    assert_eq!(n.misc["health"], json!("Critical"));
    let events: Vec<(&str, &str, &str)> = n
        .history
        .iter()
        .map(|e| (e.severity, e.event_type.as_str(), e.event.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            (
                "INFO",
                "monitoring",
                "Node health status changed: health='OK' (previously 'None')"
            ),
            (
                "INFO",
                "monitoring",
                "Node health status changed: health='Critical' (previously 'OK')"
            ),
        ],
        "the unchanged second read leaves no event"
    );

    // A failed read keeps the cached health and the node's state.
    run(&mut c, now, 100, &mut |call: &DriverCall| match call.op {
        BmcOp::GetPower => Ok(CallResult::Power(NodePower::On)),
        _ => Err("no Status".into()),
    });
    assert_eq!(c.nodes[&u].misc["health"], json!("Critical"));
    assert_eq!(c.nodes[&u].last_error, None);
}

#[test]
fn boot_mode_changes_run_on_redfish_fail_plainly_elsewhere_and_wait_for_stable_states() {
    use super::BootModeTarget;
    // fake management cannot: last_error at once, no job, no history.
    let (mut c, u) = conductor_with("fake-hardware");
    c.change_boot(u, BmcOp::SetSecureBoot(true), t0())
        .expect("accepted");
    let n = &c.nodes[&u];
    assert_eq!(
        n.last_error.as_deref(),
        Some(
            "Failed to change secure_boot state to 'True': Driver fake-hardware does not support set_secure_boot_state (disabled or not implemented)."
        )
    );
    assert!(n.history.is_empty() && !c.is_locked(u));

    // redfish: a job sets the field; a failure only sets last_error (Ironic's quote slip kept).
    let (mut c, u) = conductor_with("redfish");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Manageable;
    c.change_boot(u, BmcOp::SetBootMode(BootModeTarget::Bios), t0())
        .expect("accepted");
    assert!(c.is_locked(u));
    assert!(c.change_boot(u, BmcOp::SetSecureBoot(false), t0()).is_err());
    run(&mut c, t0(), 50, &mut |_| Ok(CallResult::Done));
    assert_eq!(c.nodes[&u].misc["boot_mode"], json!("bios"));
    c.change_boot(u, BmcOp::SetBootMode(BootModeTarget::Uefi), t0())
        .expect("accepted");
    run(&mut c, t0(), 50, &mut |call: &DriverCall| match call.op {
        BmcOp::SetBootMode(_) => Err("boom".into()),
        _ => Ok(CallResult::Done),
    });
    let n = &c.nodes[&u];
    assert_eq!(n.misc["boot_mode"], json!("bios"));
    assert_eq!(
        n.last_error.as_deref(),
        Some("Failed to change boot mode to 'uefi: boom")
    );
    assert!(n.history.is_empty());
    assert_eq!(n.provision_state, ProvisionState::Manageable);

    // An NMI goes to the BMC; a failure is left in last_error.
    let mut sent = Vec::new();
    c.inject_nmi(u, t0()).expect("accepted");
    run(&mut c, t0(), 50, &mut |call: &DriverCall| {
        sent.push(call.op.clone());
        Err("409 ResourceInUse".into())
    });
    assert_eq!(sent, [BmcOp::InjectNmi]);
    assert_eq!(
        c.nodes[&u].last_error,
        Some(format!(
            "Redfish inject NMI failed for node {u}. Error: 409 ResourceInUse"
        ))
    );
    let (mut f, fu) = conductor_with("fake-hardware");
    let refused = f
        .inject_nmi(fu, t0())
        .expect_err("no NMI on fake management");
    assert!(
        refused.to_string().contains("does not support inject_nmi"),
        "{refused}"
    );

    // A node in a transient state is refused with 409.
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Cleaning;
    let refused = c
        .change_boot(u, BmcOp::SetBootMode(BootModeTarget::Uefi), t0())
        .expect_err("refused");
    assert!(
        refused.to_string().contains("Node is in cleaning state"),
        "{refused}"
    );
}

#[test]
fn abort_and_manage_settle_at_once_without_a_job() {
    let (mut c, u) = conductor_with("fake-hardware");
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::WaitCallBack;
    c.provision(u, "abort", None, t0()).expect("abort");
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::DeployFailed);
    c.nodes.get_mut(&u).expect("node").provision_state = ProvisionState::Available;
    c.provision(u, "manage", None, t0()).expect("manage");
    assert_eq!(c.nodes[&u].provision_state, ProvisionState::Manageable);
}
