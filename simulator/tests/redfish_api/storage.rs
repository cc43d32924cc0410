//! Storage with hardware RAID: the controller's RAID types, volumes created and deleted, each
//! bad request refused naming the property with nothing built; drive health rolled up.

use super::support::*;
use metal_sim::fault::{Degraded, Health, PartKind};

fn drive(id: &str, n: usize) -> Value {
    json!({"@odata.id": format!("/redfish/v1/Chassis/{id}/Drives/Disk{n}")})
}

#[tokio::test]
async fn a_raid1_volume_is_created_on_the_controller_and_deleted_again() {
    let (app, _, world) = setup(2);
    let id = fixture::nth_system_id(&world, 1);
    let storage = format!("/redfish/v1/Systems/{id}/Storage/1");
    let controller = get(&app, &format!("{storage}/Controllers/0")).await;
    assert_eq!(controller.status, StatusCode::OK);
    let types = controller.body["SupportedRAIDTypes"].as_array().unwrap();
    assert!(types.contains(&json!("RAID1")), "{types:?}");
    let volumes = format!("{storage}/Volumes");
    assert_eq!(get(&app, &volumes).await.body["Members@odata.count"], 0);
    let created = post(
        &app,
        &volumes,
        json!({"RAIDType": "RAID1", "Name": "root", "Links": {"Drives": [drive(&id, 1), drive(&id, 2)]}}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let location = created.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let volume = get(&app, &location).await;
    assert_eq!(volume.body["RAIDType"], "RAID1");
    assert_eq!(
        volume.body["CapacityBytes"], 480_000_000_000u64,
        "the smaller drive"
    );
    assert_eq!(volume.body["Name"], "root");
    let disk1 = get(&app, &format!("/redfish/v1/Chassis/{id}/Drives/Disk1")).await;
    assert_eq!(
        disk1.body["Links"]["Volumes"][0]["@odata.id"],
        location.as_str()
    );
    assert_eq!(get(&app, &volumes).await.body["Members@odata.count"], 1);
    let gone = delete(&app, &location).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &location).await.status, StatusCode::NOT_FOUND);
    assert_eq!(delete(&app, &location).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, &volumes).await.body["Members@odata.count"], 0);
}

#[tokio::test]
async fn each_bad_volume_request_is_refused_naming_the_property_and_builds_nothing() {
    let (app, _, world) = setup(2);
    let id = fixture::nth_system_id(&world, 1);
    let volumes = format!("/redfish/v1/Systems/{id}/Storage/1/Volumes");
    let both = json!({"Drives": [drive(&id, 1), drive(&id, 2)]});
    let cases = [
        (
            json!({"RAIDType": "RAID50", "Links": both}),
            "PropertyValueNotInList",
            "RAIDType",
        ),
        (
            json!({"RAIDType": "RAID5", "Links": both}),
            "PropertyValueIncorrect",
            "Links/Drives",
        ),
        (
            json!({"RAIDType": "RAID1", "CapacityBytes": 480_000_000_001u64, "Links": both}),
            "PropertyValueOutOfRange",
            "CapacityBytes",
        ),
        (
            json!({"RAIDType": "RAID1"}),
            "CreateFailedMissingReqProperties",
            "Links/Drives",
        ),
        (
            json!({"Links": both}),
            "CreateFailedMissingReqProperties",
            "RAIDType",
        ),
        (
            json!({"RAIDType": "RAID0", "Links": {"Drives": [drive(&id, 9)]}}),
            "PropertyValueNotInList",
            "Links/Drives",
        ),
        (
            json!({"RAIDType": "RAID1", "Links": {"Drives": [drive(&id, 1), drive(&id, 1)]}}),
            "PropertyValueIncorrect",
            "Links/Drives",
        ),
        (
            json!({"RAIDType": "RAID1", "Links": both, "Color": "red"}),
            "PropertyUnknown",
            "Color",
        ),
        (
            json!({"RAIDType": 1, "Links": both}),
            "PropertyValueTypeError",
            "RAIDType",
        ),
    ];
    for (body, message, property) in cases {
        let r = post(&app, &volumes, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(message_id(&r.body).ends_with(message), "{body}: {}", r.body);
        assert!(
            message_args(&r.body).iter().any(|a| a == property),
            "{body}: {:?}",
            message_args(&r.body)
        );
        assert_eq!(
            get(&app, &volumes).await.body["Members@odata.count"],
            0,
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_system_without_a_raid_controller_refuses_every_volume() {
    let (app, id, _) = setup(1);
    let storage = format!("/redfish/v1/Systems/{id}/Storage/1");
    let controller = get(&app, &format!("{storage}/Controllers/0")).await;
    assert_eq!(controller.body["SupportedRAIDTypes"], json!([]));
    let r = post(
        &app,
        &format!("{storage}/Volumes"),
        json!({"RAIDType": "RAID0", "Links": {"Drives": [drive(&id, 1)]}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        message_args(&r.body).contains(&"RAIDType".to_string()),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_degraded_drive_rolls_up_into_storage_system_and_chassis_health() {
    let (app, id, world) = setup(1);
    let system = format!("/redfish/v1/Systems/{id}");
    assert_eq!(get(&app, &system).await.body["Status"]["Health"], "OK");
    let host = &world.hosts()[0];
    let faults = FaultSet {
        degraded: vec![Degraded {
            part: PartKind::Drive,
            index: 1,
            health: Health::Critical,
        }],
        ..FaultSet::none()
    };
    host.set_faults(world.now(), faults);
    let drive = get(&app, &format!("/redfish/v1/Chassis/{id}/Drives/Disk2")).await;
    assert_eq!(drive.body["Status"]["Health"], "Critical");
    let healthy = get(&app, &format!("/redfish/v1/Chassis/{id}/Drives/Disk1")).await;
    assert_eq!(healthy.body["Status"]["Health"], "OK");
    let storage = get(&app, &format!("{system}/Storage/1")).await;
    assert_eq!(storage.body["Status"]["HealthRollup"], "Critical");
    // The System document is cached: a health change must show all the same.
    let sys = get(&app, &system).await;
    assert_eq!(sys.body["Status"]["Health"], "Critical");
    assert_eq!(sys.body["Status"]["HealthRollup"], "Critical");
    let chassis = get(&app, &format!("/redfish/v1/Chassis/{id}")).await;
    assert_eq!(chassis.body["Status"]["HealthRollup"], "Critical");
    host.set_faults(world.now(), FaultSet::none());
    assert_eq!(get(&app, &system).await.body["Status"]["Health"], "OK");
}
