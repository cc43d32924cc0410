//! Deploying: instance_info and the configdrive, checksums, live ISO, custom deploy steps, and
//! the failures that stop a deploy before provisioning.

use super::support::*;

/// No provision state change reached the double.
fn assert_never_provisioned(double: &IronicDouble) {
    let lines = double.lines();
    assert!(
        !lines.iter().any(|l| l.ends_with("/states/provision")),
        "{lines:?}"
    );
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
            { "op": "add", "path": "/instance_info/root_device", "value": { "name": "s== /dev/sda" } },
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
    let patch = first_patch(&double).unwrap();
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
    assert_never_provisioned(&double);
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
    assert_never_provisioned(&double);
}
