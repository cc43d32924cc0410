//! A node's ports and hardware sub-resources: validation, inventory, BIOS, virtual media and the
//! RAID target.

use super::support::*;

#[tokio::test]
async fn ports_are_created_listed_by_address_and_node_and_deleted_with_their_node() {
    let st = state();
    let node = create_fake(&st, "n1").await.json();
    let r = latest(
        &st,
        "POST",
        "/v1/ports",
        Some(json!({"address": "52:54:00:AA:BB:01", "node_uuid": node["uuid"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["address"], "52:54:00:aa:bb:01");
    let dup = latest(
        &st,
        "POST",
        "/v1/ports",
        Some(json!({"address": "52:54:00:aa:bb:01", "node_uuid": node["uuid"]})),
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bad = latest(
        &st,
        "POST",
        "/v1/ports",
        Some(json!({"address": "zz", "node_uuid": node["uuid"]})),
    )
    .await;
    assert_eq!(bad.fault(), "Expected valid MAC address for address: zz");
    let by_addr = get(&st, "/v1/ports?address=52:54:00:aa:bb:01").await.json();
    assert_eq!(by_addr["ports"].as_array().expect("list").len(), 1);
    let by_node = get(&st, "/v1/nodes/n1/ports").await.json();
    assert_eq!(by_node["ports"].as_array().expect("list").len(), 1);
    assert_eq!(
        latest(&st, "DELETE", "/v1/nodes/n1", None).await.status,
        StatusCode::NO_CONTENT
    );
    let after = get(&st, "/v1/ports").await.json();
    assert_eq!(after["ports"], json!([]));
}

#[tokio::test]
async fn validate_inventory_bios_and_vmedia_answer_like_fake_hardware() {
    let st = state();
    create_fake(&st, "n1").await;
    let v = get(&st, "/v1/nodes/n1/validate").await.json();
    assert_eq!(v["power"], json!({"result": true}));
    assert_eq!(
        v["raid"]["reason"],
        "Driver fake-hardware does not support raid (disabled or not implemented)."
    );
    let inv = get(&st, "/v1/nodes/n1/inventory").await;
    assert_eq!(
        inv.fault(),
        "Node inventory record for node 1 could not be found."
    );
    assert_eq!(
        get(&st, "/v1/nodes/n1/bios").await.json(),
        json!({"bios": []})
    );
    let vm = get(&st, "/v1/nodes/n1/vmedia").await;
    assert_eq!(vm.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn target_raid_config_is_stored_where_a_raid_interface_exists() {
    let st = state();
    create_fake(&st, "f").await;
    latest(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "r"})),
    )
    .await;
    let raid =
        json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "is_root_volume": true}]});
    let r = latest(&st, "PUT", "/v1/nodes/f/states/raid", Some(raid.clone())).await;
    assert_eq!(
        r.fault(),
        "Driver fake-hardware does not support raid (disabled or not implemented)."
    );
    let r = latest(&st, "PUT", "/v1/nodes/r/states/raid", Some(raid.clone())).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let n = get(&st, "/v1/nodes/r").await.json();
    assert_eq!(n["target_raid_config"], raid);
}
