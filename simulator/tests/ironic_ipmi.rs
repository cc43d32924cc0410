//! The mock Ironic's ipmi driver (our RMCP+ client) against our fake IPMI BMC over UDP, and the
//! `baremetal` CLI creating ipmi and redfish nodes and driving them through the BMCs.

#[path = "ipmi_fixture/mod.rs"]
mod ipmi_fixture;
#[path = "redfish_fixture.rs"]
mod redfish_fixture;
mod support;

use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::machine::{PowerState, Timing};
use serde_json::{Value, json};
use std::time::Duration;
use support::ironic::{IronicApi, baremetal};

async fn start_mock() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let mock =
        support::ironic::start_mock(Settings::with(Timings::fake_hardware(), false), 9).await;
    (mock.url, mock.task)
}

async fn call(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    IronicApi::new(url, "latest").call(method, path, body).await
}

/// Asks for `target` and waits (bounded) until the node is settled.
async fn provision(url: &str, node: &str, target: &str) -> Value {
    IronicApi::new(url, "latest")
        .provision_settled(
            node,
            target,
            Duration::from_secs(30),
            Duration::from_millis(20),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_node_is_provisioned_through_the_fake_bmc_over_udp() {
    let bmcs = ipmi_fixture::Bmcs::start(1).await;
    let (url, server) = start_mock().await;
    let bmc = bmcs.addrs[0];
    let info = json!({"ipmi_address": bmc.ip().to_string(), "ipmi_port": bmc.port(), "ipmi_username": "admin", "ipmi_password": "password"});
    let (status, n) = call(
        &url,
        reqwest::Method::POST,
        "/v1/nodes",
        // `ramdisk` deploys without an agent: this test is about the BMC side of the wire.
        Some(json!({"driver": "ipmi", "name": "ipmi-1", "driver_info": info, "deploy_interface": "ramdisk"})),
    )
    .await;
    assert_eq!(status, 201, "{n}");
    assert_eq!(n["power_interface"], "ipmitool");
    let n = provision(&url, "ipmi-1", "manage").await;
    assert_eq!(n["provision_state"], "manageable", "{n}");
    assert!(n["power_state"].is_string(), "power read over IPMI: {n}");
    assert_eq!(
        provision(&url, "ipmi-1", "provide").await["provision_state"],
        "available"
    );
    let n = provision(&url, "ipmi-1", "active").await;
    assert_eq!(n["provision_state"], "active", "{n}");
    bmcs.wait_for(0, "powered on by the deploy", |v| v.power == PowerState::On)
        .await;
    let n = provision(&url, "ipmi-1", "deleted").await;
    assert_eq!(n["provision_state"], "available", "{n}");
    bmcs.wait_for(0, "powered off by the undeploy", |v| {
        v.power == PowerState::Off
    })
    .await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ipmi_password_fails_verification_with_last_error() {
    let bmcs = ipmi_fixture::Bmcs::start(1).await;
    let (url, server) = start_mock().await;
    let bmc = bmcs.addrs[0];
    let info = json!({"ipmi_address": "127.0.0.1", "ipmi_port": bmc.port(), "ipmi_username": "admin", "ipmi_password": "nope"});
    call(
        &url,
        reqwest::Method::POST,
        "/v1/nodes",
        Some(json!({"driver": "ipmi", "name": "ipmi-bad", "driver_info": info})),
    )
    .await;
    let n = provision(&url, "ipmi-bad", "manage").await;
    assert_eq!(n["provision_state"], "enroll", "{n}");
    let err = n["last_error"].as_str().expect("last_error");
    assert!(
        err.starts_with("Failed to get power state for node") && err.contains("IPMI call failed"),
        "{err}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baremetal_cli_drives_redfish_and_ipmi_nodes_through_their_bmcs() {
    let Some(bin) = support::peer("baremetal") else {
        return;
    };
    let bmcs = ipmi_fixture::Bmcs::start(1).await;
    let rf = redfish_fixture::Server::start(1, false, Timing::instant()).await;
    let (url, server) = start_mock().await;
    let ipmi = bmcs.addrs[0];
    let rf_info = [
        format!("redfish_address={}", rf.base_url()),
        format!(
            "redfish_system_id=/redfish/v1/Systems/{}",
            redfish_fixture::system_id(&rf.world)
        ),
        format!("redfish_username={}", redfish_fixture::USER),
        format!("redfish_password={}", redfish_fixture::PASSWORD),
    ];
    let ipmi_info = [
        "ipmi_address=127.0.0.1".to_string(),
        format!("ipmi_port={}", ipmi.port()),
        "ipmi_username=admin".to_string(),
        "ipmi_password=password".to_string(),
    ];
    let result = tokio::task::spawn_blocking(move || {
        let b = bin.as_path();
        for (name, driver, info, mac) in [
            ("cli-rf", "redfish", &rf_info, "52:54:00:00:0a:01"),
            ("cli-ipmi", "ipmi", &ipmi_info, "52:54:00:00:0a:02"),
        ] {
            // `ramdisk` deploys without an agent; the agent's deploy is covered by ironic_agent_flow.
            let mut args = vec![
                "node",
                "create",
                "--driver",
                driver,
                "--name",
                name,
                "--deploy-interface",
                "ramdisk",
                "-f",
                "json",
            ];
            for i in info.iter() {
                args.extend(["--driver-info", i.as_str()]);
            }
            let node: Value =
                serde_json::from_str(&baremetal(b, &url, &args)).expect("create json");
            let uuid = node["uuid"].as_str().expect("uuid").to_string();
            baremetal(b, &url, &["port", "create", mac, "--node", &uuid]);
            let v = baremetal(b, &url, &["node", "validate", name, "-f", "json"]);
            assert!(v.contains("\"power\""), "{v}");
            for verb in ["manage", "provide", "deploy"] {
                baremetal(b, &url, &["node", verb, name, "--wait", "60"]);
            }
            baremetal(
                b,
                &url,
                &["node", "power", "off", name, "--power-timeout", "30"],
            );
            let shown: Value =
                serde_json::from_str(&baremetal(b, &url, &["node", "show", name, "-f", "json"]))
                    .expect("show");
            assert_eq!(
                (
                    shown["provision_state"].as_str(),
                    shown["power_state"].as_str()
                ),
                (Some("active"), Some("power off")),
                "{name}"
            );
            baremetal(b, &url, &["node", "undeploy", name, "--wait", "60"]);
            baremetal(b, &url, &["node", "delete", name]);
        }
    })
    .await;
    server.abort();
    rf.stop().await;
    result.expect("cli sequence");
}
