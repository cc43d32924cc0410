//! Observing: the node lookup order, boot-MAC conflicts, locked nodes, Ironic's error bodies, and
//! hardware details in the shape of the BareMetalHost status.

use super::support::*;

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9:. -]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("interfaces".to_string()),
            Just("disks".to_string()),
            Just("cpu".to_string()),
            Just("lldp".to_string()),
            Just("pci_devices".to_string()),
            Just("system_vendor".to_string()),
            Just("boot".to_string()),
            Just("memory".to_string()),
            Just("name".to_string()),
            Just("frequency".to_string()),
            Just("parsed_lldp".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[tokio::test]
async fn lookup_falls_back_from_uuid_to_name_to_boot_mac_port() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(None, "manageable");
    double.seed_port(&id, MAC);
    let obs = p.observe(&host(Some("stale-uuid"))).await.unwrap();
    let Observation::Node(view) = obs else {
        panic!("expected the node, got {obs:?}")
    };
    assert_eq!(view.uuid, id);
    assert_eq!(view.provision_state, "manageable");
    assert_eq!(
        double.lines(),
        vec![
            "GET /".to_string(),
            "GET /v1/nodes/stale-uuid".to_string(),
            "GET /v1/nodes/metal3~worker-0".to_string(),
            "GET /v1/ports?address=52:54:00:aa:bb:01&fields=uuid,address,node_uuid".to_string(),
            format!("GET /v1/nodes/{id}"),
        ]
    );
    double.clear();
    let by_name = double.seed_node(Some("metal3~worker-0"), "available");
    let Observation::Node(view) = p.observe(&host(None)).await.unwrap() else {
        panic!("expected the node by name")
    };
    assert_eq!(view.uuid, by_name);
    assert_eq!(double.lines(), vec!["GET /v1/nodes/metal3~worker-0"]);
}

#[tokio::test]
async fn a_host_without_a_node_is_not_registered() {
    let (_double, p) = setup("1.115").await;
    assert_eq!(
        p.observe(&host(None)).await.unwrap(),
        Observation::NotRegistered
    );
}

#[tokio::test]
async fn a_boot_mac_owned_by_another_named_node_is_a_conflict() {
    let (double, p) = setup("1.115").await;
    let other = double.seed_node(Some("other~host"), "active");
    double.seed_port(&other, MAC);
    let err = p.observe(&host(None)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("MAC address 52:54:00:aa:bb:01 conflicts with existing node other~host"),
        "{err}"
    );
}

#[tokio::test]
async fn a_locked_node_is_busy_not_an_error() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "enroll");
    double.set(|s| s.locked_for = 1);
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Manage).await.unwrap(),
        Outcome::Busy
    );
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Manage).await.unwrap(),
        Outcome::Accepted { node_id: Some(id) }
    );
}

#[tokio::test]
async fn double_encoded_ironic_errors_become_the_fault_string() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "enroll");
    let err = p.act(&host(Some(&id)), &Action::Provide).await.unwrap_err();
    match &err {
        ProvisionerError::Rejected {
            operation,
            status,
            message,
        } => {
            assert_eq!(*operation, "provision");
            assert_eq!(*status, 400);
            assert_eq!(
                message,
                &format!(
                    "The requested action \"provide\" can not be performed on node \"{id}\" while it is in state \"enroll\"."
                )
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!err.is_transient());
}

#[test]
fn error_bodies_of_every_shape_decode_to_a_readable_message() {
    let s = reqwest::StatusCode::BAD_REQUEST;
    let double = br#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node x could not be found.\", \"debuginfo\": null}"}"#;
    assert_eq!(decode_error_body(s, double), "Node x could not be found.");
    let single = br#"{"error_message": {"faultstring": "bad thing", "faultcode": "Client"}}"#;
    assert_eq!(decode_error_body(s, single), "bad thing");
    let plain_string = br#"{"error_message": "just text"}"#;
    assert_eq!(decode_error_body(s, plain_string), "just text");
    assert_eq!(
        decode_error_body(s, b"<html>proxy says no</html>"),
        "HTTP 400 Bad Request: <html>proxy says no</html>"
    );
    assert_eq!(decode_error_body(s, b""), "HTTP 400 Bad Request");
}

#[tokio::test]
async fn hardware_details_take_the_shape_of_bmh_status_hardware() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "manageable");
    assert_eq!(
        p.hardware_details(&host(Some(&id))).await.unwrap(),
        Value::Null,
        "no inventory yet reads as null"
    );
    double.set(|s| s.inventory = Some(sample_inventory()));
    let hw = p.hardware_details(&host(Some(&id))).await.unwrap();
    assert_eq!(
        double.lines().last().unwrap(),
        &format!("GET /v1/nodes/{id}/inventory")
    );
    assert_eq!(
        hw["systemVendor"],
        json!({ "manufacturer": "Dell Inc.", "productName": "PowerEdge R640", "serialNumber": "SN123" })
    );
    assert_eq!(
        hw["firmware"],
        json!({ "bios": { "date": "2023-05-01", "vendor": "Dell", "version": "2.1.8" } })
    );
    assert_eq!(hw["ramMebibytes"], 131072);
    assert_eq!(hw["hostname"], "worker-0.example");
    assert_eq!(
        hw["cpu"],
        json!({ "arch": "x86_64", "model": "Intel Xeon Gold 6230", "clockMegahertz": 2100.0,
                "flags": ["avx2", "vmx"], "count": 80 })
    );
    assert_eq!(
        hw["nics"][0],
        json!({ "name": "eno1", "model": "0x8086 0x1572", "mac": "52:54:00:aa:bb:01", "speedGbps": 10,
                "pxe": true, "pciAddress": "0000:18:00.0", "ip": "172.22.0.10",
                "lldp": { "switchID": "aa:bb:cc:dd:ee:ff", "portID": "Ethernet1/1", "switchSystemName": "tor-switch-1" } })
    );
    let nics = hw["nics"].as_array().unwrap();
    assert_eq!(nics.len(), 3, "the dual-stack NIC appears once per address");
    assert_eq!(nics[1]["pxe"], false);
    assert_eq!(nics[2]["ip"], "fd00::10");
    let types: Vec<&str> = hw["storage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["HDD", "SSD", "NVME"]);
    assert_eq!(hw["storage"][0]["serialNumber"], "D1");
    // Named as upstream names a disk: by its stable by-path link, every name in alternateNames;
    // a disk without one keeps its kernel name.
    assert_eq!(
        hw["storage"][0]["name"],
        "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:0:0"
    );
    assert_eq!(
        hw["storage"][0]["alternateNames"],
        json!([
            "/dev/sda",
            "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:0:0"
        ])
    );
    assert_eq!(
        hw["storage"][1]["alternateNames"],
        json!([hw["storage"][1]["name"]])
    );
    assert_eq!(hw["pciDevices"].as_array().unwrap().len(), 2);
    let typed: metal_operator::api::HardwareDetails = serde_json::from_value(hw.clone()).unwrap();
    assert_eq!(typed.gpus.len(), 1);
    assert_eq!(typed.nics.len(), 3);
    assert_eq!(typed.ram_mebibytes, 131072);
    assert_eq!(
        serde_json::to_value(&typed.storage).unwrap()[2]["type"],
        "NVME",
        "the JSON reads back through the API type unchanged"
    );
    assert_eq!(
        hw["gpus"],
        json!([{ "vendorID": "10de", "productID": "20b5", "class": "030200", "revision": "a1", "bus": "0000:3b:00.0" }])
    );
}

proptest::proptest! {
    #[test]
    fn any_inventory_shape_converts_without_panicking(inventory in arbitrary_json(), plugin in arbitrary_json()) {
        let hw = metal_operator::provisioner::ironic::hardware_details(&inventory, &plugin);
        proptest::prop_assert!(hw.is_object());
    }
}
