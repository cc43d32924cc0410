//! The same request sequence against REAL Ironic 39.0.0 (standalone, fake-hardware) and against the mock:
//! same status codes, same state sequences, same key sets, same error texts. Differences we keep are
//! listed in docs/ironic-differences.md and in `KNOWN_DIFFERENCES` below.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
#[path = "redfish_fixture.rs"]
mod redfish_fixture;
mod support;

use metal_sim::ironic::conductor::Timings;
use metal_testkit::wait::{Check, Wait};
use serde_json::{Value, json};
use std::time::Duration;

/// Transcript lines allowed to differ, each with its reason in docs/ironic-differences.md.
const KNOWN_DIFFERENCES: [&str; 0] = [];

struct Session {
    http: reqwest::Client,
    base: String,
    node: String,
    port: String,
    lines: Vec<(String, String)>,
}

fn keys(v: &Value) -> String {
    match v.as_object() {
        Some(o) => {
            let mut k: Vec<&String> = o.keys().collect();
            k.sort();
            k.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
        }
        None => format!("<not an object: {v}>"),
    }
}

impl Session {
    fn norm(&self, s: &str) -> String {
        let mut out = s.to_string();
        if !self.node.is_empty() {
            out = out.replace(&self.node, "<node>");
        }
        if !self.port.is_empty() {
            out = out.replace(&self.port, "<port>");
        }
        out
    }

    fn note(&mut self, label: &str, value: String) {
        let v = self.norm(&value);
        self.lines.push((label.to_string(), v));
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        version: &str,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-OpenStack-Ironic-API-Version", version);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn step(
        &mut self,
        label: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, v) = self.send(method, path, body, "latest").await;
        self.note(&format!("{label} status"), status.to_string());
        if let Some(inner) = v.get("error_message").and_then(Value::as_str) {
            let fault: Value = serde_json::from_str(inner).unwrap_or(Value::Null);
            let text = fault
                .get("faultstring")
                .or_else(|| fault.get("description"))
                .cloned()
                .unwrap_or(Value::Null);
            self.note(&format!("{label} error"), text.to_string());
        }
        v
    }

    /// Polls the node until no operation is pending (at most 30 s), recording each distinct
    /// provision state seen.
    async fn settle(&mut self, label: &str) {
        let seen = std::cell::RefCell::new(Vec::<String>::new());
        let this = &*self;
        let settled = Wait::new(
            format!("{label}: the node to settle on {}", this.base),
            Duration::from_secs(30),
        )
        .until_async(|| async {
            let (_, v) = this
                .send(
                    reqwest::Method::GET,
                    &format!("/v1/nodes/{}", this.node),
                    None,
                    "latest",
                )
                .await;
            let state = v["provision_state"].as_str().unwrap_or("?").to_string();
            let failed = state.ends_with("failed") || state == "enroll";
            let mut seen = seen.borrow_mut();
            if seen.last() != Some(&state) {
                seen.push(state);
            }
            let idle = v["target_provision_state"].is_null() || failed;
            if idle && v["target_power_state"].is_null() && v["reservation"].is_null() {
                Check::Done(v)
            } else {
                Check::Pending(v.to_string())
            }
        })
        .await;
        let seen = seen.into_inner();
        let v = settled.unwrap_or_else(|e| panic!("{e} (saw {seen:?})"));
        // Intermediate states depend on polling luck; they are printed, the final state is compared.
        println!("  (info) {} {label} states seen: {seen:?}", self.base);
        self.note(
            &format!("{label} final state"),
            seen.last().cloned().unwrap_or_default(),
        );
        self.note(&format!("{label} power"), v["power_state"].to_string());
        self.note(&format!("{label} last_error"), v["last_error"].to_string());
    }
}

async fn transcript(base: &str) -> Vec<(String, String)> {
    use reqwest::Method as M;
    let mut s = Session {
        http: reqwest::Client::new(),
        base: base.to_string(),
        node: String::new(),
        port: String::new(),
        lines: Vec::new(),
    };
    let root = s.step("GET /", M::GET, "/", None).await;
    s.note("GET / keys", keys(&root));
    let v1 = s.step("GET /v1/", M::GET, "/v1/", None).await;
    s.note("GET /v1/ keys", keys(&v1));
    let drivers = s.step("GET /v1/drivers", M::GET, "/v1/drivers", None).await;
    s.note("driver keys", keys(&drivers["drivers"][0]));
    let node = s
        .step(
            "create node",
            M::POST,
            "/v1/nodes",
            Some(json!({"driver": "fake-hardware", "name": "cmp-1"})),
        )
        .await;
    s.node = node["uuid"].as_str().expect("uuid").to_string();
    s.note("create node keys", keys(&node));
    s.note("create node state", node["provision_state"].to_string());
    let node_uuid = s.node.clone();
    let port = s
        .step(
            "create port",
            M::POST,
            "/v1/ports",
            Some(json!({"address": "52:54:00:c0:ff:ee", "node_uuid": node_uuid})),
        )
        .await;
    s.port = port["uuid"].as_str().unwrap_or_default().to_string();
    s.note("create port keys", keys(&port));
    let ports = s
        .step(
            "ports by address",
            M::GET,
            "/v1/ports?address=52:54:00:c0:ff:ee",
            None,
        )
        .await;
    s.note("ports by address keys", keys(&ports["ports"][0]));
    let detail = s
        .step("ports detail", M::GET, "/v1/ports/detail", None)
        .await;
    s.note("ports detail keys", keys(&detail["ports"][0]));
    let list = s.step("list nodes", M::GET, "/v1/nodes", None).await;
    s.note("list nodes keys", keys(&list["nodes"][0]));
    let fields = s
        .step(
            "list fields",
            M::GET,
            "/v1/nodes?fields=uuid,name,provision_state,boot_interface",
            None,
        )
        .await;
    s.note("list fields keys", keys(&fields["nodes"][0]));
    let show = s.step("show node", M::GET, "/v1/nodes/cmp-1", None).await;
    s.note("show node keys", keys(&show));
    let validate = s
        .step("validate", M::GET, "/v1/nodes/cmp-1/validate", None)
        .await;
    s.note("validate body", validate.to_string());
    s.step(
        "provide from enroll",
        M::PUT,
        "/v1/nodes/cmp-1/states/provision",
        Some(json!({"target": "provide"})),
    )
    .await;
    for (label, body) in [
        ("manage", json!({"target": "manage"})),
        ("provide", json!({"target": "provide"})),
        ("manage again", json!({"target": "manage"})),
        ("inspect", json!({"target": "inspect"})),
        ("provide again", json!({"target": "provide"})),
        (
            "deploy",
            json!({"target": "active", "configdrive": {"user_data": "#cloud-config\n"}}),
        ),
    ] {
        s.step(
            label,
            M::PUT,
            "/v1/nodes/cmp-1/states/provision",
            Some(body),
        )
        .await;
        s.settle(label).await;
    }
    let states = s
        .step("states", M::GET, "/v1/nodes/cmp-1/states", None)
        .await;
    s.note("states keys", keys(&states));
    s.step("delete active", M::DELETE, "/v1/nodes/cmp-1", None)
        .await;
    s.step(
        "clean from active",
        M::PUT,
        "/v1/nodes/cmp-1/states/provision",
        Some(json!({"target": "clean", "clean_steps": []})),
    )
    .await;
    for target in ["power on", "power off", "rebooting"] {
        s.step(
            target,
            M::PUT,
            "/v1/nodes/cmp-1/states/power",
            Some(json!({"target": target})),
        )
        .await;
        s.settle(target).await;
    }
    s.step(
        "bogus power",
        M::PUT,
        "/v1/nodes/cmp-1/states/power",
        Some(json!({"target": "bogus"})),
    )
    .await;
    s.step(
        "maintenance on",
        M::PUT,
        "/v1/nodes/cmp-1/maintenance",
        Some(json!({"reason": "cmp"})),
    )
    .await;
    let m = s
        .step(
            "show in maintenance",
            M::GET,
            "/v1/nodes/cmp-1?fields=maintenance,maintenance_reason",
            None,
        )
        .await;
    s.note(
        "maintenance fields",
        format!("{} {}", m["maintenance"], m["maintenance_reason"]),
    );
    s.step(
        "maintenance off",
        M::DELETE,
        "/v1/nodes/cmp-1/maintenance",
        None,
    )
    .await;
    s.step(
        "undeploy",
        M::PUT,
        "/v1/nodes/cmp-1/states/provision",
        Some(json!({"target": "deleted"})),
    )
    .await;
    s.settle("undeploy").await;
    s.step(
        "manage for clean",
        M::PUT,
        "/v1/nodes/cmp-1/states/provision",
        Some(json!({"target": "manage"})),
    )
    .await;
    s.settle("manage for clean").await;
    s.step(
        "clean without steps",
        M::PUT,
        "/v1/nodes/cmp-1/states/provision",
        Some(json!({"target": "clean"})),
    )
    .await;
    s.step("clean unsupported", M::PUT, "/v1/nodes/cmp-1/states/provision", Some(json!({"target": "clean", "clean_steps": [{"interface": "deploy", "step": "erase_devices_metadata"}]}))).await;
    s.settle("clean unsupported").await;
    s.step("inventory", M::GET, "/v1/nodes/cmp-1/inventory", None)
        .await;
    let bios = s.step("bios", M::GET, "/v1/nodes/cmp-1/bios", None).await;
    s.note("bios body", bios.to_string());
    s.step(
        "patch read-only",
        M::PATCH,
        "/v1/nodes/cmp-1",
        Some(json!([{"op": "replace", "path": "/provision_state", "value": "active"}])),
    )
    .await;
    let p = s
        .step(
            "patch extra",
            M::PATCH,
            "/v1/nodes/cmp-1",
            Some(json!([{"op": "add", "path": "/extra/k", "value": "v"}])),
        )
        .await;
    s.note("patched extra", p["extra"].to_string());
    s.step(
        "manage from clean failed",
        M::PUT,
        "/v1/nodes/cmp-1/states/provision",
        Some(json!({"target": "manage"})),
    )
    .await;
    s.settle("manage from clean failed").await;
    s.step("delete", M::DELETE, "/v1/nodes/cmp-1", None).await;
    s.step("show deleted", M::GET, "/v1/nodes/cmp-1", None)
        .await;
    s.step(
        "create bad driver",
        M::POST,
        "/v1/nodes",
        Some(json!({"driver": "nope"})),
    )
    .await;
    s.step(
        "create without driver",
        M::POST,
        "/v1/nodes",
        Some(json!({"name": "x"})),
    )
    .await;
    s.step(
        "bad mac",
        M::POST,
        "/v1/ports",
        Some(json!({"address": "zz", "node_uuid": node_uuid})),
    )
    .await;
    let (st, v) = s.send(M::GET, "/v1/nodes", None, "2.0").await;
    s.note("version 2.0", format!("{st} {v}"));
    let (st, v) = s.send(M::GET, "/v1/nodes", None, "1.abc").await;
    s.note("version 1.abc", format!("{st} {v}"));
    s.lines
}

/// A redfish node against a fresh fake Redfish BMC: verification, provide, power control and deletion,
/// all over the wire from whichever Ironic runs it.
async fn redfish_transcript(base: &str) -> Vec<(String, String)> {
    use reqwest::Method as M;
    let bmc = redfish_fixture::Server::start(1, false, metal_sim::machine::Timing::instant()).await;
    let system = format!(
        "{}/redfish/v1/Systems/{}",
        bmc.base_url(),
        redfish_fixture::system_id(&bmc.world)
    );
    let info = json!({
        "redfish_address": bmc.base_url(),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", redfish_fixture::system_id(&bmc.world)),
        "redfish_username": redfish_fixture::USER,
        "redfish_password": redfish_fixture::PASSWORD,
    });
    let mut s = Session {
        http: reqwest::Client::new(),
        base: base.to_string(),
        node: String::new(),
        port: String::new(),
        lines: Vec::new(),
    };
    let node = s
        .step(
            "create redfish node",
            M::POST,
            "/v1/nodes",
            Some(json!({"driver": "redfish", "name": "rf-cmp", "driver_info": info})),
        )
        .await;
    s.node = node["uuid"].as_str().expect("uuid").to_string();
    s.note("redfish node keys", keys(&node));
    s.note(
        "redfish password shown",
        node["driver_info"]["redfish_password"].to_string(),
    );
    for i in [
        "boot",
        "deploy",
        "management",
        "power",
        "inspect",
        "bios",
        "raid",
        "vendor",
    ] {
        s.note(
            &format!("{i}_interface"),
            node[format!("{i}_interface")].to_string(),
        );
    }
    let node_uuid = s.node.clone();
    s.step(
        "redfish port",
        M::POST,
        "/v1/ports",
        Some(json!({"address": "52:54:00:c0:ff:01", "node_uuid": node_uuid})),
    )
    .await;
    let v = s
        .step(
            "redfish validate",
            M::GET,
            "/v1/nodes/rf-cmp/validate",
            None,
        )
        .await;
    for i in ["boot", "deploy", "management", "power", "console", "rescue"] {
        s.note(&format!("validate {i}"), v[i].to_string());
    }
    for (label, target) in [("redfish manage", "manage"), ("redfish provide", "provide")] {
        s.step(
            label,
            M::PUT,
            "/v1/nodes/rf-cmp/states/provision",
            Some(json!({"target": target})),
        )
        .await;
        s.settle(label).await;
    }
    for target in ["power on", "power off"] {
        let label = format!("redfish {target}");
        s.step(
            &label,
            M::PUT,
            "/v1/nodes/rf-cmp/states/power",
            Some(json!({"target": target})),
        )
        .await;
        s.settle(&label).await;
        let at_bmc: Value = reqwest::Client::new()
            .get(&system)
            .basic_auth(redfish_fixture::USER, Some(redfish_fixture::PASSWORD))
            .send()
            .await
            .expect("bmc")
            .json()
            .await
            .expect("bmc json");
        s.note(
            &format!("{label} at the BMC"),
            at_bmc["PowerState"].to_string(),
        );
    }
    s.step("redfish delete", M::DELETE, "/v1/nodes/rf-cmp", None)
        .await;
    bmc.stop().await;
    s.lines
}

fn compare(real_lines: &[(String, String)], mock_lines: &[(String, String)]) {
    assert_eq!(
        real_lines.len(),
        mock_lines.len(),
        "transcripts differ in length"
    );
    let mut diffs = Vec::new();
    for ((label, r), (_, m)) in real_lines.iter().zip(mock_lines) {
        let marker = if r == m {
            " "
        } else if KNOWN_DIFFERENCES.contains(&label.as_str()) {
            "~"
        } else {
            "!"
        };
        println!("{marker} {label}\n    real: {r}\n    mock: {m}");
        if marker == "!" {
            diffs.push(label.clone());
        }
    }
    assert!(
        diffs.is_empty(),
        "unexplained differences from real Ironic: {diffs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_ironic_and_the_mock_drive_a_fake_redfish_bmc_alike() {
    let Some((real, mock_url, server)) =
        ironic_real::start_real_and_mock(Timings::fake_hardware(), 2).await
    else {
        return;
    };
    let real_lines = redfish_transcript(real.url()).await;
    let mock_lines = redfish_transcript(&mock_url).await;
    server.abort();
    drop(real);
    compare(&real_lines, &mock_lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_agree_on_the_same_request_sequence() {
    let Some((real, mock_url, server)) =
        ironic_real::start_real_and_mock(Timings::fake_hardware(), 1).await
    else {
        return;
    };

    let real_lines = transcript(real.url()).await;
    let mock_lines = transcript(&mock_url).await;
    server.abort();
    drop(real);
    compare(&real_lines, &mock_lines);
}
