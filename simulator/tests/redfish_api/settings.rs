//! Pending BIOS settings, virtual media on both paths, firmware updates as tasks, and the
//! faults that drop, fail, ignore or stall requests.

use super::support::*;
use metal_testkit::wait::{Check, Wait};

#[tokio::test]
async fn bios_settings_stay_pending_until_the_next_reset() {
    let (app, id, _) = setup(1);
    let bios = format!("/redfish/v1/Systems/{id}/Bios");
    let current = get(&app, &bios).await;
    assert_eq!(current.body["Attributes"]["ProcVirtualization"], "Enabled");
    let settings = current.body["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = patch(
        &app,
        &settings,
        json!({"Attributes": {"ProcVirtualization": "Disabled"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        get(&app, &settings).await.body["Attributes"]["ProcVirtualization"],
        "Disabled"
    );
    assert_eq!(
        get(&app, &bios).await.body["Attributes"]["ProcVirtualization"],
        "Enabled"
    );
    post(
        &app,
        &format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    assert_eq!(
        get(&app, &bios).await.body["Attributes"]["ProcVirtualization"],
        "Disabled"
    );
    let unknown = patch(&app, &settings, json!({"Attributes": {"NoSuchKnob": 1}})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn virtual_media_is_shared_between_system_and_manager_paths() {
    let (app, id, _) = setup(1);
    let sys_cd = format!("/redfish/v1/Systems/{id}/VirtualMedia/Cd");
    let mgr_cd = format!("/redfish/v1/Managers/{id}/VirtualMedia/Cd");
    let insert = post(
        &app,
        &format!("{mgr_cd}/Actions/VirtualMedia.InsertMedia"),
        json!({"Image": "http://127.0.0.1:8080/ipa.iso", "Inserted": true, "WriteProtected": true}),
    )
    .await;
    assert_eq!(insert.status, StatusCode::NO_CONTENT);
    let seen = get(&app, &sys_cd).await;
    assert_eq!(seen.body["Inserted"], true);
    assert_eq!(seen.body["Image"], "http://127.0.0.1:8080/ipa.iso");
    assert_eq!(seen.body["ImageName"], "ipa.iso");
    let bad = post(
        &app,
        &format!("{sys_cd}/Actions/VirtualMedia.InsertMedia"),
        json!({"Image": "not a url"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let eject = post(
        &app,
        &format!("{sys_cd}/Actions/VirtualMedia.EjectMedia"),
        json!({}),
    )
    .await;
    assert_eq!(eject.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &mgr_cd).await.body["Inserted"], false);
}

#[tokio::test]
async fn simple_update_runs_a_task_that_installs_the_new_version() {
    let world = fixture::world(1, SOCKET.parse().unwrap(), false, Timing::instant());
    let plan = world.listeners().remove(0);
    let options = ServiceOptions {
        update_duration: Some(Duration::from_millis(150)),
        ..ServiceOptions::default()
    };
    let app = redfish::app(redfish::state_for(&world, &plan, options));
    let started = post(
        &app,
        "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
        json!({"ImageURI": "http://127.0.0.1:8080/bios-2.2.0.bin", "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]}),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let monitor = started.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(started.body["TaskState"], "Running");
    let state = Wait::new("the update task to finish", Duration::from_secs(1))
        .every(Duration::from_millis(20))
        .until_async(|| async {
            let m = get(&app, &monitor).await;
            let state = m.body["TaskState"].as_str().unwrap_or_default().to_string();
            if m.status == StatusCode::OK {
                Check::Done(state)
            } else {
                Check::Pending(format!("{} {state}", m.status))
            }
        })
        .await
        .unwrap();
    assert_eq!(state, "Completed");
    let bios = get(&app, "/redfish/v1/UpdateService/FirmwareInventory/BIOS").await;
    assert_eq!(bios.body["Version"], "2.1.10");
    let id = fixture::system_id(&world);
    let system = get(&app, &format!("/redfish/v1/Systems/{id}")).await;
    assert_eq!(system.body["BiosVersion"], "2.1.10");
}

#[tokio::test]
async fn a_bmc_update_shows_in_the_managers_firmware_version() {
    let world = fixture::world(1, SOCKET.parse().unwrap(), false, Timing::instant());
    let plan = world.listeners().remove(0);
    let options = ServiceOptions {
        update_duration: Some(Duration::from_millis(50)),
        ..ServiceOptions::default()
    };
    let app = redfish::app(redfish::state_for(&world, &plan, options));
    let id = fixture::system_id(&world);
    let manager = format!("/redfish/v1/Managers/{id}");
    let before = get(&app, &manager).await.body["FirmwareVersion"].clone();
    let inventory = get(&app, "/redfish/v1/UpdateService/FirmwareInventory/BMC").await;
    assert_eq!(inventory.body["Version"], before);
    let started = post(
        &app,
        "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
        json!({"ImageURI": "http://127.0.0.1:8080/bmc.bin", "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/BMC"]}),
    )
    .await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let after = Wait::new("the BMC update to install", Duration::from_secs(1))
        .every(Duration::from_millis(20))
        .until_async(|| async {
            let v = get(&app, "/redfish/v1/UpdateService/FirmwareInventory/BMC")
                .await
                .body["Version"]
                .clone();
            if v == before {
                Check::Pending(v.to_string())
            } else {
                Check::Done(v)
            }
        })
        .await
        .unwrap();
    assert_eq!(get(&app, &manager).await.body["FirmwareVersion"], after);
}

#[tokio::test]
async fn unreachable_fault_drops_and_5xx_fault_fails_requests() {
    let socket: SocketAddr = SOCKET.parse().unwrap();
    let down = FaultSet {
        unreachable: vec![metal_sim::fault::Window {
            from: Duration::ZERO,
            until: None,
        }],
        ..FaultSet::default()
    };
    let world = fixture::world_with_faults(1, socket, false, Timing::instant(), down);
    let app = redfish::app(fixture::state(&world));
    let r = get(&app, "/redfish/v1/Systems").await;
    assert!(r.dropped, "an unreachable BMC must not answer");

    let failing = FaultSet {
        http_5xx_rate: 1.0,
        ..FaultSet::default()
    };
    let world = fixture::world_with_faults(1, socket, false, Timing::instant(), failing);
    let app = redfish::app(fixture::state(&world));
    let r = get(&app, "/redfish/v1/Systems").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(message_id(&r.body).ends_with("ServiceTemporarilyUnavailable"));
}

#[tokio::test]
async fn power_ack_without_effect_fault_leaves_the_machine_off() {
    let faults = FaultSet {
        power_ack_no_effect_rate: 1.0,
        ..FaultSet::default()
    };
    let world =
        fixture::world_with_faults(1, SOCKET.parse().unwrap(), false, Timing::instant(), faults);
    let app = redfish::app(fixture::state(&world));
    let id = fixture::system_id(&world);
    let r = post(
        &app,
        &format!("/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&app, &format!("/redfish/v1/Systems/{id}")).await.body["PowerState"],
        "Off"
    );
}

#[tokio::test]
async fn stuck_power_fault_holds_the_system_in_its_transition_until_cleared() {
    let faults = FaultSet {
        power_stick_rate: 1.0,
        ..FaultSet::default()
    };
    let world =
        fixture::world_with_faults(1, SOCKET.parse().unwrap(), false, Timing::instant(), faults);
    let app = redfish::app(fixture::state(&world));
    let id = fixture::system_id(&world);
    let uri = format!("/redfish/v1/Systems/{id}");
    let r = post(
        &app,
        &format!("{uri}/Actions/ComputerSystem.Reset"),
        json!({"ResetType": "On"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &uri).await.body["PowerState"], "PoweringOn");
    world.hosts()[0].set_faults(world.now(), FaultSet::default());
    assert_eq!(get(&app, &uri).await.body["PowerState"], "On");
}
