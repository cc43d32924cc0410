//! The mock Ironic never sends a packet to a BMC off loopback: nodes whose driver_info names
//! `http://192.168.1.100` (Redfish) or `192.168.1.101` (IPMI), the addresses of this project's seed
//! YAML, fail `validate`, power changes and verification with the egress gate's error, over the wire.
//!
//! Nothing here reaches those addresses: the gate runs before a driver opens any socket. The error
//! texts prove it — they come from the gate, not from a failed connection (which would read
//! `Unable to connect …` or an IPMI timeout) — and they come back well before the 3 s connect
//! timeout a connection attempt to an unreachable BMC would wait out.

mod support;

use metal_sim::ironic::conductor::{Settings, Timings};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::ironic::IronicApi;

/// What a driver would wait for before a connection attempt to a silent BMC fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The words of the gate's refusal that Ironic-style clients read.
const GATE: &str = "The simulator only talks to loopback BMCs (127.0.0.0/8, ::1) unless --allow-bmc-network CIDR is given";

struct Mock {
    api: IronicApi,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Mock {
    async fn start() -> Self {
        let mock =
            support::ironic::start_mock(Settings::with(Timings::fake_hardware(), false), 13).await;
        Self {
            api: IronicApi::new(&mock.url, "latest"),
            server: mock.task,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api.call(method, path, body).await
    }

    async fn create(&self, body: Value) -> String {
        let (status, node) = self
            .call(reqwest::Method::POST, "/v1/nodes", Some(body))
            .await;
        assert_eq!(status, 201, "{node}");
        node["uuid"].as_str().expect("uuid").to_string()
    }

    /// Polls the node until it is unlocked with a `last_error`, at most the connect timeout
    /// counted from `since`.
    async fn last_error(&self, uuid: &str, since: Instant) -> String {
        let n = self
            .api
            .wait_node(
                uuid,
                &format!("to fail with the gate error within {CONNECT_TIMEOUT:?}"),
                CONNECT_TIMEOUT.saturating_sub(since.elapsed()),
                Duration::from_millis(10),
                |n| {
                    n["reservation"].is_null()
                        && n["target_power_state"].is_null()
                        && n["target_provision_state"].is_null()
                        && n["last_error"].is_string()
                },
            )
            .await;
        n["last_error"].as_str().expect("last_error").to_string()
    }
}

fn redfish_node() -> Value {
    json!({
        "driver": "redfish",
        "name": "seed-redfish",
        "driver_info": {
            "redfish_address": "http://192.168.1.100",
            "redfish_system_id": "/redfish/v1/Systems/1",
            "redfish_username": "admin",
            "redfish_password": "password",
        },
    })
}

fn ipmi_node() -> Value {
    json!({
        "driver": "ipmi",
        "name": "seed-ipmi",
        "driver_info": {
            "ipmi_address": "192.168.1.101",
            "ipmi_port": 623,
            "ipmi_username": "admin",
            "ipmi_password": "password",
        },
    })
}

fn assert_gate_error(text: &str, address: &str) {
    assert!(text.contains(GATE), "not the gate's error: {text}");
    assert!(
        text.contains(&format!("Refused to contact the BMC at {address} for node")),
        "{text}"
    );
    assert!(
        !text.contains("Unable to connect"),
        "a connection was tried: {text}"
    );
    assert!(!text.contains("Timeout"), "a datagram was sent: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_a_private_bmc_as_refused_by_the_gate() {
    let mock = Mock::start().await;
    for (body, address) in [
        (redfish_node(), "http://192.168.1.100"),
        (ipmi_node(), "192.168.1.101"),
    ] {
        let uuid = mock.create(body).await;
        let (status, v) = mock
            .call(
                reqwest::Method::GET,
                &format!("/v1/nodes/{uuid}/validate"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        for interface in ["power", "management"] {
            assert_eq!(v[interface]["result"], false, "{interface}: {v}");
            let reason = v[interface]["reason"].as_str().expect("reason");
            assert_gate_error(reason, address);
        }
    }
    mock.server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_on_of_a_private_bmc_fails_at_once_with_the_gate_error() {
    let mock = Mock::start().await;
    for (body, address) in [
        (redfish_node(), "http://192.168.1.100"),
        (ipmi_node(), "192.168.1.101"),
    ] {
        let uuid = mock.create(body).await;
        let asked = Instant::now();
        let (status, v) = mock
            .call(
                reqwest::Method::PUT,
                &format!("/v1/nodes/{uuid}/states/power"),
                Some(json!({"target": "power on"})),
            )
            .await;
        assert_eq!(status, 202, "{v}");
        let error = mock.last_error(&uuid, asked).await;
        assert!(
            error.starts_with("Failed to change power state to 'power on'"),
            "{error}"
        );
        assert_gate_error(&error, address);
    }
    mock.server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_a_private_bmc_fails_with_the_gate_error() {
    let mock = Mock::start().await;
    let uuid = mock.create(ipmi_node()).await;
    let asked = Instant::now();
    let (status, v) = mock
        .call(
            reqwest::Method::PUT,
            &format!("/v1/nodes/{uuid}/states/provision"),
            Some(json!({"target": "manage"})),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let error = mock.last_error(&uuid, asked).await;
    assert_gate_error(&error, "192.168.1.101");
    let (_, n) = mock
        .call(reqwest::Method::GET, &format!("/v1/nodes/{uuid}"), None)
        .await;
    assert_eq!(n["provision_state"], "enroll", "{n}");
    mock.server.abort();
}
