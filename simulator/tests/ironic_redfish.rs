//! The mock Ironic's redfish driver against our fake Redfish BMC over the wire: power and boot device
//! really change on the simulated machine, and BMC faults surface as Ironic surfaces them.

#[path = "redfish_fixture.rs"]
mod fixture;
mod support;

use chrono::TimeDelta;
use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::machine::Timing;
use serde_json::{Value, json};
use std::time::Duration;
use support::ironic::IronicApi;

struct Mock {
    api: IronicApi,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_mock() -> Mock {
    let mut timings = Timings::fake_hardware();
    timings.power_sync = TimeDelta::milliseconds(100);
    let mock = support::ironic::start_mock(Settings::with(timings, false), 5).await;
    Mock {
        api: IronicApi::new(&mock.url, "latest"),
        task: mock.task,
    }
}

impl Mock {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api.call(method, path, body).await
    }

    async fn provision(&self, node: &str, target: &str) -> Value {
        self.api
            .provision_settled(
                node,
                target,
                Duration::from_secs(20),
                Duration::from_millis(20),
            )
            .await
    }

    /// Waits (bounded) until the node is settled.
    async fn settle(&self, node: &str) -> Value {
        self.api
            .wait_node(
                node,
                "to settle",
                Duration::from_secs(20),
                Duration::from_millis(20),
                support::ironic::settled,
            )
            .await
    }

    /// Polls the node every 50 ms, at most 20 s, until `holds`.
    async fn until(&self, node: &str, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
        self.api
            .wait_node(
                node,
                what,
                Duration::from_secs(20),
                Duration::from_millis(50),
                holds,
            )
            .await
    }
}

async fn bmc_system(server: &fixture::Server) -> Value {
    let url = format!(
        "{}/redfish/v1/Systems/{}",
        server.base_url(),
        fixture::system_id(&server.world)
    );
    reqwest::Client::new()
        .get(url)
        .basic_auth(fixture::USER, Some(fixture::PASSWORD))
        .send()
        .await
        .expect("bmc")
        .json()
        .await
        .expect("json")
}

fn driver_info(server: &fixture::Server, password: &str) -> Value {
    json!({
        "redfish_address": server.base_url(),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", fixture::system_id(&server.world)),
        "redfish_username": fixture::USER,
        "redfish_password": password,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_node_is_provisioned_through_the_fake_bmc_over_the_wire() {
    let server = fixture::Server::start(1, false, Timing::instant()).await;
    let mock = start_mock().await;
    let (status, node) = mock
        // `ramdisk` deploys without an agent: this test is about the BMC side of the wire.
        .call(reqwest::Method::POST, "/v1/nodes", Some(json!({"driver": "redfish", "name": "rf-1", "deploy_interface": "ramdisk", "driver_info": driver_info(&server, fixture::PASSWORD)})))
        .await;
    assert_eq!(status, 201, "{node}");
    assert_eq!(node["driver_info"]["redfish_password"], "******");
    let n = mock.provision("rf-1", "manage").await;
    assert_eq!(n["provision_state"], "manageable", "{n}");
    let bmc_power = bmc_system(&server).await["PowerState"].clone();
    let expected = if bmc_power == "On" {
        "power on"
    } else {
        "power off"
    };
    assert_eq!(n["power_state"], expected, "power state read over Redfish");
    let n = mock.provision("rf-1", "inspect").await;
    assert_eq!(n["provision_state"], "manageable", "{n}");
    let (status, inv) = mock
        .call(reqwest::Method::GET, "/v1/nodes/rf-1/inventory", None)
        .await;
    assert_eq!(status, 200);
    let inv = &inv["inventory"];
    assert_eq!(inv["system_vendor"]["manufacturer"], "Contoso", "{inv}");
    assert!(inv["cpu"]["count"].as_u64().is_some_and(|c| c > 0), "{inv}");
    assert!(
        inv["memory"]["physical_mb"].as_u64().is_some_and(|m| m > 0),
        "{inv}"
    );
    let nics = inv["interfaces"].as_array().expect("interfaces");
    assert!(!nics.is_empty(), "NICs from EthernetInterfaces: {inv}");
    assert!(
        !inv["disks"].as_array().expect("disks").is_empty(),
        "disks from Storage drives: {inv}"
    );
    let (_, ports) = mock
        .call(reqwest::Method::GET, "/v1/ports?node=rf-1", None)
        .await;
    let port_macs: Vec<&str> = ports["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["address"].as_str())
        .collect();
    for nic in nics {
        let mac = nic["mac_address"].as_str().expect("mac");
        assert!(port_macs.contains(&mac), "port for {mac}: {ports}");
    }
    let n = mock.provision("rf-1", "provide").await;
    assert_eq!(n["provision_state"], "available", "{n}");
    let n = mock.provision("rf-1", "active").await;
    assert_eq!(n["provision_state"], "active", "{n}");
    assert_eq!(n["power_state"], "power on");
    let sys = bmc_system(&server).await;
    assert_eq!(sys["PowerState"], "On", "{sys}");
    let (status, _) = mock
        .call(
            reqwest::Method::PUT,
            "/v1/nodes/rf-1/states/power",
            Some(json!({"target": "power off"})),
        )
        .await;
    assert_eq!(status, 202);
    let n = mock.settle("rf-1").await;
    assert_eq!(n["power_state"], "power off");
    assert_eq!(bmc_system(&server).await["PowerState"], "Off");
    let n = mock.provision("rf-1", "deleted").await;
    assert_eq!(n["provision_state"], "available", "{n}");
    assert_eq!(bmc_system(&server).await["PowerState"], "Off");
    mock.task.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bmc_password_sends_manage_back_to_enroll_with_last_error() {
    let server = fixture::Server::start(1, false, Timing::instant()).await;
    let mock = start_mock().await;
    mock.call(reqwest::Method::POST, "/v1/nodes", Some(json!({"driver": "redfish", "name": "rf-bad", "driver_info": driver_info(&server, "wrong")}))).await;
    let n = mock.provision("rf-bad", "manage").await;
    assert_eq!(n["provision_state"], "enroll", "{n}");
    let err = n["last_error"].as_str().expect("last_error");
    assert!(
        err.starts_with("Failed to get power state for node") && err.contains("returned code 401"),
        "{err}"
    );
    mock.task.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bmc_becomes_a_power_failure_and_recovers_when_it_returns() {
    let server = fixture::Server::start(1, false, Timing::instant()).await;
    let address = server.address;
    let info = driver_info(&server, fixture::PASSWORD);
    let mock = start_mock().await;
    mock.call(
        reqwest::Method::POST,
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "rf-2", "driver_info": info})),
    )
    .await;
    assert_eq!(
        mock.provision("rf-2", "manage").await["provision_state"],
        "manageable"
    );
    let world = server.world.clone();
    server.stop().await;
    let n = mock
        .until("rf-2", "to show a power failure", |n| {
            n["fault"] == "power failure"
        })
        .await;
    assert_eq!(n["maintenance"], true);
    assert!(
        n["maintenance_reason"]
            .as_str()
            .is_some_and(|r| r.contains("Switching node to maintenance mode")),
        "{n}"
    );
    // The BMC comes back on the same address: the next sync clears the fault.
    let listener = std::net::TcpListener::bind(address).expect("rebind");
    let app = metal_sim::redfish::app(fixture::state(&world));
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(metal_sim::redfish::serve(listener, app, None, stop.clone()));
    mock.until("rf-2", "to clear its fault", |n| {
        n["fault"].is_null() && n["maintenance"] == false
    })
    .await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    mock.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_bmc_needs_verify_ca_off_for_its_self_signed_certificate() {
    let server = fixture::Server::start(1, true, Timing::instant()).await;
    assert!(server.base_url().starts_with("https://"));
    let mock = start_mock().await;
    let mut info = driver_info(&server, fixture::PASSWORD);
    mock.call(
        reqwest::Method::POST,
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "tls-checked", "driver_info": info.clone()})),
    )
    .await;
    let n = mock.provision("tls-checked", "manage").await;
    assert_eq!(
        n["provision_state"], "enroll",
        "a self-signed certificate must not verify: {n}"
    );
    info["redfish_verify_ca"] = json!(false);
    mock.call(
        reqwest::Method::POST,
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "tls-unchecked", "driver_info": info})),
    )
    .await;
    let n = mock.provision("tls-unchecked", "manage").await;
    assert_eq!(n["provision_state"], "manageable", "{n}");
    mock.task.abort();
    server.stop().await;
}

/// `redfish_verify_ca` names a CA bundle (a file, or a directory of files) as Ironic reads it: the
/// BMC's certificate then verifies against it, and only against it; anything that is neither a
/// path nor a boolean is refused with Ironic's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_bmc_verifies_against_the_ca_bundle_its_driver_info_names() {
    let server = fixture::Server::start(1, true, Timing::instant()).await;
    let other = fixture::Server::start(1, true, Timing::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bmc-ca.pem");
    std::fs::write(&bundle, server.certificate_pem.as_deref().unwrap()).unwrap();
    let wrong = dir.path().join("other-ca.pem");
    let wrong_dir = tempfile::tempdir().unwrap();
    std::fs::write(&wrong, other.certificate_pem.as_deref().unwrap()).unwrap();
    std::fs::write(
        wrong_dir.path().join("other.crt"),
        other.certificate_pem.as_deref().unwrap(),
    )
    .unwrap();
    let mock = start_mock().await;
    let cases = [
        ("by-file", json!(bundle.to_str().unwrap()), "manageable"),
        ("by-dir", json!(dir.path().to_str().unwrap()), "manageable"),
        ("wrong-file", json!(wrong.to_str().unwrap()), "enroll"),
        (
            "wrong-dir",
            json!(wrong_dir.path().to_str().unwrap()),
            "enroll",
        ),
        ("system-roots", json!("yes"), "enroll"),
    ];
    for (name, verify, want) in cases {
        let mut info = driver_info(&server, fixture::PASSWORD);
        info["redfish_verify_ca"] = verify.clone();
        mock.call(
            reqwest::Method::POST,
            "/v1/nodes",
            Some(json!({"driver": "redfish", "name": name, "driver_info": info})),
        )
        .await;
        let n = mock.provision(name, "manage").await;
        assert_eq!(n["provision_state"], want, "{name} ({verify}): {n}");
    }
    let mut info = driver_info(&server, fixture::PASSWORD);
    info["redfish_verify_ca"] = json!("/no/such/bundle.pem");
    mock.call(
        reqwest::Method::POST,
        "/v1/nodes",
        Some(json!({"driver": "redfish", "name": "bad-value", "driver_info": info})),
    )
    .await;
    let n = mock.provision("bad-value", "manage").await;
    assert_eq!(n["provision_state"], "enroll", "{n}");
    assert!(
        n["last_error"].as_str().is_some_and(|e| e.contains(
            "The value should be a Boolean or the path to a file/directory, not \"/no/such/bundle.pem\""
        )),
        "{n}"
    );
    mock.task.abort();
    server.stop().await;
    other.stop().await;
}
