//! Registering a host: the node and its boot port, repairs, driver_info patches, renames and
//! refused BMC addresses.

use super::support::*;

#[tokio::test]
async fn registering_a_new_host_creates_the_node_and_its_boot_port() {
    let (double, p) = setup("1.115").await;
    let out = p
        .act(
            &host(None),
            &Action::Register(registration(
                "redfish+http://10.0.0.5:8000/redfish/v1/Systems/1",
                "fp-1",
            )),
        )
        .await
        .unwrap();
    let id = accepted_id(out);
    assert_eq!(
        double.lines(),
        vec![
            "GET /".to_string(),
            "GET /v1/nodes/metal3~worker-0".to_string(),
            "GET /v1/ports?address=52:54:00:aa:bb:01&fields=uuid,address,node_uuid".to_string(),
            "POST /v1/nodes".to_string(),
            "POST /v1/ports".to_string(),
            format!("PATCH /v1/nodes/{id}"),
        ]
    );
    let reqs = double.requests();
    assert_eq!(reqs[0].version, None, "discovery needs no version");
    for r in &reqs[1..] {
        assert_eq!(r.version.as_deref(), Some("1.110"), "{}", r.line());
    }
    assert_eq!(
        reqs[3].body.clone().unwrap(),
        json!({
            "name": "metal3~worker-0",
            "driver": "redfish",
            "boot_interface": "ipxe",
            "firmware_interface": "redfish",
            "inspect_interface": "agent",
            "raid_interface": "redfish",
            "driver_info": {
                "redfish_address": "http://10.0.0.5:8000",
                "redfish_system_id": "/redfish/v1/Systems/1",
                "redfish_username": "admin",
                "redfish_password": "s3cret-pw",
                "redfish_verify_ca": false,
                "deploy_kernel": "http://172.22.0.1/images/ironic-python-agent.kernel",
                "deploy_ramdisk": "http://172.22.0.1/images/ironic-python-agent.initramfs",
            },
            "properties": { "capabilities": "boot_mode:uefi", "cpu_arch": "x86_64" },
            "extra": {},
            "automated_clean": true,
        })
    );
    assert_eq!(
        reqs[4].body.clone().unwrap(),
        json!({ "address": MAC, "node_uuid": id, "pxe_enabled": true })
    );
    assert_eq!(
        reqs[5].body.clone().unwrap(),
        json!([{ "op": "add", "path": "/extra/registration_fingerprint", "value": "fp-1" }]),
        "the fingerprint marks registration complete only once the boot port exists"
    );
}

#[tokio::test]
async fn a_failed_boot_port_creation_is_repaired_by_the_next_registration() {
    let (double, p) = setup("1.115").await;
    double.set(|s| s.failing_port_creates = 1);
    let reg = registration("redfish+http://10.0.0.5:8000/redfish/v1/Systems/1", "fp-1");
    let first = p.act(&host(None), &Action::Register(reg.clone())).await;
    assert!(first.is_err(), "the 503 on the port surfaces: {first:?}");
    let node = match p.observe(&host(None)).await.unwrap() {
        metal_operator::provisioner::Observation::Node(n) => n,
        other => panic!("the node was created before the port failed, got {other:?}"),
    };
    assert_eq!(
        node.registration_fingerprint, None,
        "a node without its boot port is not marked registered"
    );
    let id = accepted_id(p.act(&host(None), &Action::Register(reg)).await.unwrap());
    let mut ports = 0;
    double.set(|s| ports = s.ports.len());
    assert_eq!(ports, 1, "the boot port exists now");
    let node = match p.observe(&host(Some(&id))).await.unwrap() {
        metal_operator::provisioner::Observation::Node(n) => n,
        other => panic!("expected the node, got {other:?}"),
    };
    assert_eq!(node.registration_fingerprint.as_deref(), Some("fp-1"));
}

#[tokio::test]
async fn registering_an_unchanged_node_sends_no_patch() {
    let (double, p) = setup("1.115").await;
    let reg = registration("ipmi://10.0.0.6", "fp-1");
    let id = accepted_id(
        p.act(&host(None), &Action::Register(reg.clone()))
            .await
            .unwrap(),
    );
    double.clear();
    p.act(&host(Some(&id)), &Action::Register(reg))
        .await
        .unwrap();
    assert_eq!(
        double.lines(),
        vec![
            format!("GET /v1/nodes/{id}"),
            "GET /v1/ports?address=52:54:00:aa:bb:01&fields=uuid,address,node_uuid".to_string(),
        ]
    );
}

#[tokio::test]
async fn a_changed_secret_replaces_the_whole_driver_info() {
    let (double, p) = setup("1.115").await;
    let id = accepted_id(
        p.act(
            &host(None),
            &Action::Register(registration("ipmi://10.0.0.6", "fp-1")),
        )
        .await
        .unwrap(),
    );
    double.clear();
    let mut changed = registration("ipmi://10.0.0.6:6230", "fp-2");
    changed.credentials.password = "rotated".into();
    p.act(&host(Some(&id)), &Action::Register(changed))
        .await
        .unwrap();
    let patch = first_patch(&double).expect("a PATCH");
    assert_eq!(patch.path, format!("/v1/nodes/{id}"));
    assert_eq!(
        patch.body.unwrap(),
        json!([
            { "op": "replace", "path": "/driver_info", "value": {
                "ipmi_address": "10.0.0.6", "ipmi_port": 6230,
                "ipmi_username": "admin", "ipmi_password": "rotated",
                "ipmi_priv_level": "ADMINISTRATOR", "ipmi_verify_ca": false,
                "deploy_kernel": "http://172.22.0.1/images/ironic-python-agent.kernel",
                "deploy_ramdisk": "http://172.22.0.1/images/ironic-python-agent.initramfs",
            }},
            { "op": "add", "path": "/extra/registration_fingerprint", "value": "fp-2" },
        ])
    );
    assert_eq!(
        double.node(&id).unwrap()["driver_info"]["ipmi_password"],
        "rotated"
    );
}

#[tokio::test]
async fn an_active_node_keeps_its_driver_and_interfaces_when_re_registered() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "active");
    double.seed_port(&id, MAC);
    p.act(
        &host(Some(&id)),
        &Action::Register(registration(
            "redfish://10.0.0.5/redfish/v1/Systems/1",
            "fp-9",
        )),
    )
    .await
    .unwrap();
    let patch = first_patch(&double).expect("the changed fingerprint is patched");
    let paths: Vec<String> = patch
        .body
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/driver_info",
            "/extra/registration_fingerprint",
            "/automated_clean",
            "/properties/capabilities",
            "/properties/cpu_arch",
        ],
        "Ironic refuses driver and interface changes on a deployed node"
    );
    assert_eq!(double.node(&id).unwrap()["driver"], "ipmi");
}

#[tokio::test]
async fn a_node_found_by_boot_mac_is_renamed_to_the_host() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(None, "manageable");
    double.seed_port(&id, MAC);
    let out = p
        .act(
            &host(None),
            &Action::Register(registration("ipmi://10.0.0.6", "fp-1")),
        )
        .await
        .unwrap();
    assert_eq!(out, accepted(&id));
    let node = double.node(&id).unwrap();
    assert_eq!(node["name"], "metal3~worker-0");
    assert_eq!(node["driver"], "ipmi");
    assert_eq!(node["boot_interface"], "ipxe");
    assert!(
        !double
            .lines()
            .iter()
            .any(|l| l == "POST /v1/nodes" || l == "POST /v1/ports")
    );
}

#[tokio::test]
async fn registration_with_a_bad_bmc_address_is_refused_before_any_call() {
    let (double, p) = setup("1.115").await;
    let err = p
        .act(
            &host(None),
            &Action::Register(registration("bogus://10.0.0.1", "fp")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid BMC details: Unknown BMC type 'bogus' for address bogus://10.0.0.1"
    );
    let mut no_mac = registration("libvirt://10.0.0.1", "fp");
    no_mac.boot_mac = None;
    let err = p
        .act(
            &HostRef {
                boot_mac: None,
                uid: None,
                ..host(None)
            },
            &Action::Register(no_mac),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("requires a BootMACAddress"),
        "{err}"
    );
    assert!(double.lines().is_empty());
}
