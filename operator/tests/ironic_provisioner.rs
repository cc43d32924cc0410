//! The Ironic provisioner against a recording HTTP double: exact methods, paths, version headers
//! and bodies for every action, lookups, errors, version negotiation, TLS and the call count of
//! one host's lifecycle.

mod ironic_double;

use std::sync::Arc;
use std::time::Duration;

use ironic_double::IronicDouble;
use metal_operator::bmc::DeployImages;
use metal_operator::ironic_http::{ClientConfig, HttpIronicClient};
use metal_operator::provisioner::ironic::{
    IronicClient, IronicProvisioner, IronicSettings, LifecyclePacing, decode_error_body,
    full_lifecycle,
};
use metal_operator::provisioner::{
    Action, Credentials, Deployment, HostRef, InspectMode, Observation, Outcome, PowerChange,
    Provisioner, ProvisionerError, Registration,
};
use serde_json::{Value, json};

const MAC: &str = "52:54:00:aa:bb:01";

fn host(node_id: Option<&str>) -> HostRef {
    HostRef {
        namespace: "metal3".into(),
        name: "worker-0".into(),
        node_id: node_id.map(str::to_string),
        boot_mac: Some(MAC.into()),
    }
}

fn registration(address: &str, fingerprint: &str) -> Registration {
    Registration {
        bmc_address: address.into(),
        disable_certificate_verification: true,
        credentials: Credentials {
            username: "admin".into(),
            password: "s3cret-pw".into(),
        },
        boot_mac: Some(MAC.into()),
        boot_mode: "UEFI".into(),
        inspect_mode: InspectMode::Agent,
        automated_clean: true,
        architecture: Some("x86_64".into()),
        fingerprint: fingerprint.into(),
    }
}

fn deployment() -> Deployment {
    Deployment {
        image_url: "http://172.22.0.1/images/rhcos.qcow2".into(),
        checksum: Some("0123abcd".into()),
        checksum_type: Some("sha256".into()),
        format: Some("qcow2".into()),
        custom_deploy: None,
        user_data: Some("#cloud-config\nruncmd: [true]\n".into()),
        network_data: Some("links:\n- id: eth0\n  type: phy\n".into()),
        meta_data: Some("team: infra\n".into()),
        root_device_hints: Some(json!({ "deviceName": "/dev/sda" })),
    }
}

fn images() -> DeployImages {
    DeployImages {
        kernel_url: Some("http://172.22.0.1/images/ironic-python-agent.kernel".into()),
        ramdisk_url: Some("http://172.22.0.1/images/ironic-python-agent.initramfs".into()),
        iso_url: None,
    }
}

fn provisioner_for(endpoint: String) -> IronicProvisioner {
    let client = IronicClient::new(ClientConfig::new(endpoint)).unwrap();
    IronicProvisioner::new(
        Arc::new(client),
        IronicSettings {
            deploy_images: images(),
        },
    )
}

async fn setup(max: &str) -> (IronicDouble, IronicProvisioner) {
    let double = IronicDouble::start(max).await;
    let p = provisioner_for(double.endpoint());
    (double, p)
}

fn accepted_id(outcome: Outcome) -> String {
    match outcome {
        Outcome::Accepted { node_id: Some(id) } => id,
        other => panic!("expected an accepted outcome with a node id, got {other:?}"),
    }
}

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
    let patch = double
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("a PATCH");
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
    let patch = double
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("the changed fingerprint is patched");
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
    assert_eq!(
        out,
        Outcome::Accepted {
            node_id: Some(id.clone())
        }
    );
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

#[tokio::test]
async fn each_provision_action_puts_its_ironic_target() {
    let (double, p) = setup("1.115").await;
    let table = [
        ("enroll", Action::Manage, "manage", "manageable"),
        ("manageable", Action::Inspect, "inspect", "manageable"),
        ("manageable", Action::Provide, "provide", "available"),
        ("active", Action::Undeploy, "deleted", "available"),
        ("manageable", Action::Adopt, "adopt", "active"),
        ("wait call-back", Action::Abort, "abort", "deploy failed"),
    ];
    for (from, action, target, to) in table {
        let id = double.seed_node(Some("metal3~worker-0"), from);
        double.clear();
        let out = p.act(&host(Some(&id)), &action).await.unwrap();
        assert_eq!(
            out,
            Outcome::Accepted {
                node_id: Some(id.clone())
            }
        );
        let reqs = double.requests();
        let last = reqs.last().unwrap();
        assert_eq!(last.line(), format!("PUT /v1/nodes/{id}/states/provision"));
        assert_eq!(last.version.as_deref(), Some("1.110"));
        assert_eq!(last.body.clone().unwrap(), json!({ "target": target }));
        assert_eq!(double.node(&id).unwrap()["provision_state"], to, "{target}");
        double.set(|s| {
            s.nodes.remove(&id);
        });
    }
}

#[tokio::test]
async fn power_changes_put_ironic_power_targets() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "active");
    let table = [
        (PowerChange::On, json!({ "target": "power on" })),
        (PowerChange::Off, json!({ "target": "power off" })),
        (
            PowerChange::SoftOff,
            json!({ "target": "soft power off", "timeout": 180 }),
        ),
        (PowerChange::Reboot, json!({ "target": "rebooting" })),
        (
            PowerChange::SoftReboot,
            json!({ "target": "soft rebooting" }),
        ),
    ];
    p.client().api_version().await.unwrap();
    for (change, body) in table {
        double.clear();
        p.act(&host(Some(&id)), &Action::Power(change))
            .await
            .unwrap();
        let reqs = double.requests();
        assert_eq!(reqs.len(), 1, "a known node id needs no lookup");
        assert_eq!(reqs[0].line(), format!("PUT /v1/nodes/{id}/states/power"));
        assert_eq!(reqs[0].body.clone().unwrap(), body);
    }
    assert_eq!(double.node(&id).unwrap()["power_state"], "power on");
}

#[tokio::test]
async fn deploy_writes_instance_info_validates_and_sends_the_configdrive_dict() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    p.act(&host(Some(&id)), &Action::Deploy(deployment()))
        .await
        .unwrap();
    let reqs = double.requests();
    let lines: Vec<String> = reqs.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        vec![
            "GET /".to_string(),
            format!("GET /v1/nodes/{id}"),
            format!("PATCH /v1/nodes/{id}"),
            format!("GET /v1/nodes/{id}/validate"),
            format!("PUT /v1/nodes/{id}/states/provision"),
        ]
    );
    assert_eq!(
        reqs[2].body.clone().unwrap(),
        json!([
            { "op": "add", "path": "/instance_info/image_source", "value": "http://172.22.0.1/images/rhcos.qcow2" },
            { "op": "add", "path": "/instance_info/image_disk_format", "value": "qcow2" },
            { "op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256" },
            { "op": "add", "path": "/instance_info/image_os_hash_value", "value": "0123abcd" },
            { "op": "add", "path": "/properties/root_device", "value": { "deviceName": "/dev/sda" } },
        ])
    );
    assert_eq!(
        reqs[4].body.clone().unwrap(),
        json!({
            "target": "active",
            "configdrive": {
                "meta_data": {
                    "team": "infra",
                    "metal3-namespace": "metal3",
                    "metal3-name": "worker-0",
                    "local-hostname": "worker-0",
                    "local_hostname": "worker-0",
                    "name": "worker-0",
                },
                "user_data": "#cloud-config\nruncmd: [true]\n",
                "network_data": { "links": [{ "id": "eth0", "type": "phy" }] },
            },
        })
    );
    assert_eq!(double.node(&id).unwrap()["provision_state"], "active");
}

#[tokio::test]
async fn md5_checksums_use_image_checksum_and_live_iso_switches_to_ramdisk() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    let live = Deployment {
        format: Some("live-iso".into()),
        checksum_type: Some("md5".into()),
        image_url: "http://172.22.0.1/live.iso".into(),
        root_device_hints: None,
        ..deployment()
    };
    p.act(&host(Some(&id)), &Action::Deploy(live))
        .await
        .unwrap();
    let patch = double
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(
        patch.body.unwrap(),
        json!([
            { "op": "add", "path": "/instance_info/boot_iso", "value": "http://172.22.0.1/live.iso" },
            { "op": "add", "path": "/instance_info/image_checksum", "value": "0123abcd" },
            { "op": "replace", "path": "/deploy_interface", "value": "ramdisk" },
        ])
    );
}

#[tokio::test]
async fn custom_deploy_sends_deploy_steps_through_custom_agent() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    let custom = Deployment {
        image_url: String::new(),
        checksum: None,
        checksum_type: None,
        format: None,
        custom_deploy: Some("install_coreos".into()),
        root_device_hints: None,
        ..deployment()
    };
    p.act(&host(Some(&id)), &Action::Deploy(custom))
        .await
        .unwrap();
    let reqs = double.requests();
    let patch = reqs.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(
        patch.body.clone().unwrap(),
        json!([{ "op": "replace", "path": "/deploy_interface", "value": "custom-agent" }])
    );
    let put = reqs.last().unwrap();
    assert_eq!(
        put.body.clone().unwrap()["deploy_steps"],
        json!([{ "interface": "deploy", "step": "install_coreos", "args": {}, "priority": 80 }])
    );
}

#[tokio::test]
async fn a_failed_validation_stops_the_deploy_with_a_clear_message() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    double.set(|s| s.failing_validation = Some(("deploy".into(), "Missing image_source".into())));
    let err = p
        .act(&host(Some(&id)), &Action::Deploy(deployment()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ironic rejected validate: host validation error: deploy: Missing image_source"
    );
    assert!(!err.is_transient());
    assert!(
        !double
            .lines()
            .iter()
            .any(|l| l.ends_with("/states/provision"))
    );
}

#[tokio::test]
async fn unparsable_network_data_stops_the_deploy_before_provisioning() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    // A deploy with unparsable network data fails before anything is provisioned.
    let bad = Deployment {
        network_data: Some("links: [unclosed".into()),
        ..deployment()
    };
    let err = p
        .act(&host(Some(&id)), &Action::Deploy(bad))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("networkData is not valid YAML"),
        "{err}"
    );
    assert!(
        !double
            .lines()
            .iter()
            .any(|l| l.ends_with("/states/provision"))
    );
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
async fn the_version_is_negotiated_once_across_many_concurrent_calls() {
    let (double, p) = setup("1.115").await;
    let p = Arc::new(p);
    let id = double.seed_node(Some("metal3~worker-0"), "manageable");
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let p = p.clone();
        let h = host(Some(&id));
        tasks.push(tokio::spawn(async move { p.observe(&h).await }));
    }
    for t in tasks {
        assert!(matches!(t.await.unwrap().unwrap(), Observation::Node(_)));
    }
    let roots = double.lines().iter().filter(|l| *l == "GET /").count();
    assert_eq!(roots, 1);
    assert_eq!(p.api_calls(), 41);
}

#[tokio::test]
async fn the_highest_version_both_sides_support_is_used() {
    let (double, p) = setup("1.95").await;
    p.observe(&host(None)).await.unwrap();
    assert_eq!(double.requests()[1].version.as_deref(), Some("1.95"));
    assert_eq!(p.client().api_version().await.unwrap().to_string(), "1.95");
}

#[tokio::test]
async fn an_ironic_older_than_1_89_is_refused_clearly() {
    let (double, p) = setup("1.80").await;
    let err = p.observe(&host(None)).await.unwrap_err();
    match err {
        ProvisionerError::VersionTooOld { found, required } => {
            assert_eq!(found, "1.80");
            assert_eq!(required, "1.89");
        }
        other => panic!("expected VersionTooOld, got {other:?}"),
    }
    assert_eq!(double.lines(), vec!["GET /"]);
}

#[tokio::test]
async fn detaching_an_active_node_sets_maintenance_then_deletes_it() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "active");
    let out = p
        .act(&host(Some(&id)), &Action::Detach { force: false })
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Accepted {
            node_id: Some(id.clone())
        }
    );
    let reqs = double.requests();
    let lines: Vec<String> = reqs.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines[1..],
        [
            format!("GET /v1/nodes/{id}"),
            format!("PUT /v1/nodes/{id}/maintenance"),
            format!("DELETE /v1/nodes/{id}"),
        ]
    );
    assert_eq!(
        reqs[2].body.clone().unwrap(),
        json!({ "reason": "removed by metal3 operator" })
    );
    assert!(double.node(&id).is_none());
    // A second detach finds nothing and succeeds.
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Detach { force: false })
            .await
            .unwrap(),
        Outcome::Accepted { node_id: None }
    );
}

#[tokio::test]
async fn detaching_a_waiting_node_waits_unless_forced_to_abort() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "wait call-back");
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Detach { force: false })
            .await
            .unwrap(),
        Outcome::Busy
    );
    assert!(!double.lines().iter().any(|l| l.starts_with("PUT")));
    assert_eq!(
        p.act(&host(Some(&id)), &Action::Detach { force: true })
            .await
            .unwrap(),
        Outcome::Busy
    );
    let last = double.requests().pop().unwrap();
    assert_eq!(last.line(), format!("PUT /v1/nodes/{id}/states/provision"));
    assert_eq!(last.body.unwrap(), json!({ "target": "abort" }));
    // Now in `deploy failed`: maintenance, then delete.
    let out = p
        .act(&host(Some(&id)), &Action::Detach { force: true })
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Accepted {
            node_id: Some(id.clone())
        }
    );
    assert!(double.node(&id).is_none());
}

#[tokio::test]
async fn deleting_an_available_node_skips_maintenance() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "available");
    p.act(&host(Some(&id)), &Action::Delete).await.unwrap();
    let lines = double.lines();
    assert_eq!(
        lines[1..],
        [
            format!("GET /v1/nodes/{id}"),
            format!("DELETE /v1/nodes/{id}")
        ]
    );
}

#[tokio::test]
async fn maintenance_and_automated_clean_reach_the_node() {
    let (double, p) = setup("1.115").await;
    let id = double.seed_node(Some("metal3~worker-0"), "manageable");
    let h = host(Some(&id));
    p.act(
        &h,
        &Action::SetMaintenance {
            on: true,
            reason: Some("paused".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(double.node(&id).unwrap()["maintenance_reason"], "paused");
    p.act(
        &h,
        &Action::SetMaintenance {
            on: false,
            reason: None,
        },
    )
    .await
    .unwrap();
    p.act(&h, &Action::SetAutomatedClean(false)).await.unwrap();
    let reqs = double.requests();
    let tail: Vec<String> = reqs[reqs.len() - 3..].iter().map(|r| r.line()).collect();
    assert_eq!(
        tail,
        [
            format!("PUT /v1/nodes/{id}/maintenance"),
            format!("DELETE /v1/nodes/{id}/maintenance"),
            format!("PATCH /v1/nodes/{id}"),
        ]
    );
    assert_eq!(
        reqs.last().unwrap().body.clone().unwrap(),
        json!([{ "op": "replace", "path": "/automated_clean", "value": false }])
    );
    let node = double.node(&id).unwrap();
    assert_eq!(node["maintenance"], false);
    assert_eq!(node["automated_clean"], false);
}

fn sample_inventory() -> Value {
    json!({
        "inventory": {
            "system_vendor": { "manufacturer": "Dell Inc.", "product_name": "PowerEdge R640",
                "serial_number": "SN123",
                "firmware": { "vendor": "Dell", "version": "2.1.8", "build_date": "2023-05-01" } },
            "memory": { "total": 137438953472u64, "physical_mb": 131072 },
            "cpu": { "model_name": "Intel Xeon Gold 6230", "frequency": "2100.0", "count": 80,
                "architecture": "x86_64", "flags": ["vmx", "avx2", "vmx"] },
            "interfaces": [
                { "name": "eno1", "mac_address": "52:54:00:AA:BB:01", "ipv4_address": "172.22.0.10",
                  "ipv6_address": null, "vendor": "0x8086", "product": "0x1572", "speed_mbps": 10000,
                  "pci_address": "0000:18:00.0",
                  "lldp": [[1, "04aabbccddeeff"], [2, "0545746865726e6574312f31"], [5, "746f722d7377697463682d31"]] },
                { "name": "eno2", "mac_address": "52:54:00:aa:bb:02", "ipv4_address": "10.1.0.10",
                  "ipv6_address": "fd00::10", "vendor": "0x8086", "product": "0x1572", "speed_mbps": 25000,
                  "lldp": [] }
            ],
            "disks": [
                { "name": "/dev/sda", "model": "PERC H730", "size": 480103981056u64, "rotational": true,
                  "serial": "D1", "vendor": "DELL", "wwn": "0x5000", "hctl": "0:0:0:0",
                  "by_path": "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:0:0" },
                { "name": "/dev/sdb", "size": 960197124096u64, "rotational": false },
                { "name": "/dev/nvme0n1", "size": 1600321314816u64, "rotational": false }
            ],
            "boot": { "current_boot_mode": "uefi", "pxe_interface": "01-52-54-00-aa-bb-01" },
            "hostname": "worker-0.example"
        },
        "plugin_data": {
            "pci_devices": [
                { "vendor_id": "10de", "product_id": "20b5", "class": "030200", "revision": "a1", "bus": "0000:3b:00.0" },
                { "vendor_id": "8086", "product_id": "1572", "class": "020000", "revision": "01", "bus": "0000:18:00.0" }
            ]
        }
    })
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
    assert_eq!(
        hw["storage"][0]["alternateNames"],
        json!(["/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:0:0"])
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

#[tokio::test]
async fn basic_auth_is_sent_on_every_call() {
    let double = IronicDouble::start("1.115").await;
    let mut config = ClientConfig::new(format!("{}/v1/", double.endpoint()));
    config.basic_auth = Some(Credentials {
        username: "ironic".into(),
        password: "pw".into(),
    });
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(config).unwrap()),
        IronicSettings::default(),
    );
    p.observe(&host(None)).await.unwrap();
    let reqs = double.requests();
    assert_eq!(
        reqs[0].path, "/",
        "a /v1 suffix on the endpoint is tolerated"
    );
    for r in reqs {
        assert_eq!(r.authorization.as_deref(), Some("Basic aXJvbmljOnB3"));
    }
}

#[tokio::test]
async fn the_drivers_list_shows_whether_a_conductor_is_up() {
    let (double, p) = setup("1.115").await;
    assert_eq!(p.client().drivers().await.unwrap(), ["ipmi", "redfish"]);
    assert_eq!(double.lines(), ["GET /", "GET /v1/drivers"]);
}

#[tokio::test]
async fn a_silent_ironic_times_out_as_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept connections and never answer.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.timeout = Duration::from_millis(300);
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(config).unwrap()),
        IronicSettings::default(),
    );
    let started = std::time::Instant::now();
    match p.observe(&host(None)).await.unwrap() {
        Observation::Unavailable(why) => assert!(
            why.contains("timed out") || why.contains("timeout"),
            "{why}"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

#[tokio::test]
async fn an_unreachable_ironic_is_observed_as_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = ClientConfig::new(format!("http://{addr}"));
    config.timeout = Duration::from_secs(2);
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(config).unwrap()),
        IronicSettings::default(),
    );
    match p.observe(&host(None)).await.unwrap() {
        Observation::Unavailable(why) => assert!(why.contains("version discovery"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn tls_server_config(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn a_ca_file_verifies_ironic_a_wrong_ca_fails_and_insecure_skips_verification() {
    let server_cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let other_cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, server_cert.cert.pem()).unwrap();

    let double = IronicDouble::start("1.115").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls_server_config(&server_cert));
    let app = IronicDouble::router(double.state.clone());
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    tokio::spawn(async move { server.serve(app.into_make_service()).await.unwrap() });

    let mut good = ClientConfig::new(format!("https://{addr}"));
    good.ca_pem = Some(std::fs::read(&ca_path).unwrap());
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(good).unwrap()),
        IronicSettings::default(),
    );
    assert_eq!(
        p.observe(&host(None)).await.unwrap(),
        Observation::NotRegistered
    );

    let mut wrong = ClientConfig::new(format!("https://{addr}"));
    wrong.ca_pem = Some(other_cert.cert.pem().into_bytes());
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(wrong).unwrap()),
        IronicSettings::default(),
    );
    match p.observe(&host(None)).await.unwrap() {
        Observation::Unavailable(why) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}");
        }
        other => panic!("a wrong CA must not verify, got {other:?}"),
    }

    let mut insecure = ClientConfig::new(format!("https://{addr}"));
    insecure.insecure = true;
    let p = IronicProvisioner::new(
        Arc::new(IronicClient::new(insecure).unwrap()),
        IronicSettings::default(),
    );
    assert_eq!(
        p.observe(&host(None)).await.unwrap(),
        Observation::NotRegistered,
        "insecure accepts a certificate no CA vouches for"
    );

    let mut garbage = ClientConfig::new(format!("https://{addr}"));
    garbage.ca_pem = Some(b"not a pem".to_vec());
    let err = IronicClient::new(garbage).unwrap_err();
    assert!(
        err.to_string().contains("CA file holds no certificate"),
        "{err}"
    );
}

/// The figure `make bench` reports: Ironic API calls for one host's whole lifecycle.
#[tokio::test]
async fn one_host_lifecycle_costs_a_small_fixed_number_of_api_calls() {
    let (double, p) = setup("1.115").await;
    double.set(|s| s.inventory = Some(sample_inventory()));
    let pacing = LifecyclePacing {
        poll_interval: Duration::from_millis(1),
        max_polls_per_step: 10,
    };
    let report = full_lifecycle(
        &p,
        &host(None),
        registration("redfish-virtualmedia://10.0.0.7/redfish/v1/Systems/1", "fp"),
        deployment(),
        pacing,
    )
    .await
    .unwrap();
    println!(
        "ironic API calls for one host's lifecycle: {} ({} of them polls)",
        report.total, report.polls
    );
    for (step, calls) in &report.steps {
        println!("  {step:<10} {calls}");
    }
    let roots = double.lines().iter().filter(|l| *l == "GET /").count();
    assert_eq!(roots, 1, "version discovery runs once, not per step");
    assert_eq!(report.total, double.requests().len() as u64);
    // register: discovery + name + port lookup + create + port + fingerprint + 1 poll = 7; each
    // verb 1 + 1 poll;
    // hardware 1; deploy: get + patch + validate + put + 1 poll = 5.
    assert_eq!(
        report.steps,
        vec![
            ("register", 7),
            ("manage", 2),
            ("inspect", 2),
            ("hardware", 1),
            ("provide", 2),
            ("deploy", 5),
            ("undeploy", 2),
        ]
    );
    assert_eq!(report.total, 21);
    assert_eq!(report.polls, 6);
}

#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_bmc_password_never_reaches_logs_debug_output_or_errors() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (double, p) = setup("1.115").await;
    let reg = registration("redfish://10.0.0.5/redfish/v1/Systems/1", "fp-1");
    let id = accepted_id(
        p.act(&host(None), &Action::Register(reg.clone()))
            .await
            .unwrap(),
    );
    let mut rotated = reg.clone();
    rotated.fingerprint = "fp-2".into();
    p.act(&host(Some(&id)), &Action::Register(rotated))
        .await
        .unwrap();
    // A rejected request with credentials in flight.
    double.set(|s| s.locked_for = 0);
    let err = p
        .act(
            &host(Some("missing")),
            &Action::Register(registration("ipmi://10.0.0.9", "fp-3")),
        )
        .await
        .map(|_| ())
        .err();

    let mut text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    text.push_str(&format!(
        "{reg:?} {:?} {err:?} {p:?}",
        Action::Register(reg.clone())
    ));
    let mut config = ClientConfig::new("http://127.0.0.1:1");
    config.basic_auth = Some(Credentials {
        username: "u".into(),
        password: "s3cret-pw".into(),
    });
    text.push_str(&format!("{config:?}"));
    assert!(
        text.contains("ironic node created"),
        "the subscriber captured the provisioner's logs"
    );
    assert!(!text.contains("s3cret-pw"), "password leaked:\n{text}");
}

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

proptest::proptest! {
    #[test]
    fn any_inventory_shape_converts_without_panicking(inventory in arbitrary_json(), plugin in arbitrary_json()) {
        let hw = metal_operator::provisioner::ironic::hardware_details(&inventory, &plugin);
        proptest::prop_assert!(hw.is_object());
    }
}
