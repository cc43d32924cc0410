//! Boot mode and secure boot changes against REAL Ironic 39 and the mock, side by side:
//! `PUT /v1/nodes/{id}/states/boot_mode` and `/states/secure_boot` on a redfish node (each server
//! driving its own fake Redfish BMC) and on a fake-hardware node, below 1.76, with bad targets and
//! bodies, an unknown node; then the node's `boot_mode`, `secure_boot` and `last_error` once each
//! change has been carried out (secure boot refused in Legacy mode, then enabled in UEFI mode);
//! `PUT /management/inject_nmi` on both nodes and its refusals.
//! Same status and body once addresses, UUIDs and times are replaced by labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
#[path = "redfish_fixture.rs"]
mod redfish_fixture;
mod support;

use ironic_real::compare::{Server, Step, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> Step {
    (method, path.to_string(), body)
}

async fn enrolled(server: &mut Server) -> redfish_fixture::Server {
    let bmc = redfish_fixture::Server::start(1, false, metal_sim::machine::Timing::instant()).await;
    let info = json!({
        "redfish_address": bmc.base_url(),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", redfish_fixture::system_id(&bmc.world)),
        "redfish_username": redfish_fixture::USER,
        "redfish_password": redfish_fixture::PASSWORD,
    });
    for body in [
        json!({"name": "rf", "driver": "redfish", "driver_info": info}),
        json!({"name": "fk", "driver": "fake-hardware"}),
    ] {
        let created = server.call("POST", "/v1/nodes", Some(body), None).await;
        assert!(created.starts_with("201"), "create: {created}");
    }
    for node in ["rf", "fk"] {
        let path = format!("/v1/nodes/{node}/states/provision");
        let asked = server
            .call("PUT", &path, Some(json!({"target": "manage"})), None)
            .await;
        assert!(asked.starts_with("202"), "manage {node}: {asked}");
        server
            .settle(
                &format!("/v1/nodes/{node}"),
                "provision_state",
                json!("manageable"),
            )
            .await;
    }
    bmc
}

/// Waits (bounded: 30 s, polling every 50 ms) until node `node` holds no lock and `done` holds
/// for its document.
async fn settled(server: &mut Server, node: &str, done: impl Fn(&Value) -> bool) {
    for _ in 0..600 {
        let line = server
            .call("GET", &format!("/v1/nodes/{node}"), None, None)
            .await;
        let body = line
            .split_once(' ')
            .and_then(|(_, r)| r.split_once(' '))
            .map_or("", |(_, b)| b);
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if v["reservation"].is_null() && done(&v) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("node {node} did not settle");
}

/// Node documents cut to the fields this test is about.
fn fields_of_interest(line: &str) -> String {
    let (head, body) = line.split_once(" location=").unwrap_or((line, ""));
    let body = body.split_once(' ').map_or(body, |(_, b)| b);
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if v.get("driver").is_some() {
        format!(
            "{head} boot_mode={} secure_boot={} last_error={}",
            v["boot_mode"], v["secure_boot"], v["last_error"]
        )
    } else {
        line.to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_change_boot_mode_and_secure_boot_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 11).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let mut bmcs = Vec::new();
    for s in servers.iter_mut() {
        bmcs.push(enrolled(s).await);
    }
    let put = |path: &str, body: Value, v: Option<&'static str>| (step("PUT", path, Some(body)), v);
    let bm = "/v1/nodes/rf/states/boot_mode";
    let sb = "/v1/nodes/rf/states/secure_boot";
    let refusals: Vec<(Step, Option<&str>)> = vec![
        (step("GET", "/v1/nodes/rf", None), None),
        put(bm, json!({"target": "bios"}), Some("1.75")),
        put(sb, json!({"target": true}), Some("1.75")),
        put(
            "/v1/nodes/nosuch/states/boot_mode",
            json!({"target": "bios"}),
            Some("1.75"),
        ),
        put(bm, json!({"target": "legacy"}), None),
        put(bm, json!({}), None),
        put(bm, json!({"target": "bios", "other": 1}), None),
        put(sb, json!({"target": "maybe"}), None),
        put(sb, json!({}), None),
        (step("POST", sb, Some(json!({"target": true}))), None),
        put("/v1/nodes/fk/management/inject_nmi", json!({}), None),
        put(
            "/v1/nodes/rf/management/inject_nmi",
            json!({}),
            Some("1.28"),
        ),
        put(
            "/v1/nodes/rf/management/inject_nmi",
            json!({"now": true}),
            None,
        ),
        put("/v1/nodes/nosuch/management/inject_nmi", json!({}), None),
        (
            step("GET", "/v1/nodes/rf/management/inject_nmi", None),
            None,
        ),
        put(
            "/v1/nodes/fk/states/boot_mode",
            json!({"target": "uefi"}),
            None,
        ),
        put(
            "/v1/nodes/fk/states/secure_boot",
            json!({"target": false}),
            None,
        ),
    ];
    let mut differences = replay(&mut servers, refusals, fields_of_interest).await;
    for s in servers.iter_mut() {
        settled(s, "fk", |v| !v["last_error"].is_null()).await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![
                (step("GET", "/v1/nodes/fk", None), None),
                put(bm, json!({"target": "bios"}), None),
            ],
            fields_of_interest,
        )
        .await,
    );
    for s in servers.iter_mut() {
        settled(s, "rf", |v| v["boot_mode"] == json!("bios")).await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![
                (step("GET", "/v1/nodes/rf", None), None),
                put(sb, json!({"target": true}), None),
            ],
            fields_of_interest,
        )
        .await,
    );
    for s in servers.iter_mut() {
        settled(s, "rf", |v| !v["last_error"].is_null()).await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![
                (step("GET", "/v1/nodes/rf", None), None),
                put(bm, json!({"target": "uefi"}), None),
            ],
            fields_of_interest,
        )
        .await,
    );
    for s in servers.iter_mut() {
        settled(s, "rf", |v| v["boot_mode"] == json!("uefi")).await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![put(sb, json!({"target": "true"}), None)],
            fields_of_interest,
        )
        .await,
    );
    for s in servers.iter_mut() {
        settled(s, "rf", |v| v["secure_boot"] == json!(true)).await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![(step("GET", "/v1/nodes/rf", None), None)],
            fields_of_interest,
        )
        .await,
    );
    // An NMI reaches a powered-on machine.
    for s in servers.iter_mut() {
        let asked = s
            .call(
                "PUT",
                "/v1/nodes/rf/states/power",
                Some(json!({"target": "power on"})),
                None,
            )
            .await;
        assert!(asked.starts_with("202"), "power on: {asked}");
        s.settle("/v1/nodes/rf", "power_state", json!("power on"))
            .await;
    }
    differences.extend(
        replay(
            &mut servers,
            vec![put("/v1/nodes/rf/management/inject_nmi", json!({}), None)],
            fields_of_interest,
        )
        .await,
    );
    for s in servers.iter_mut() {
        settled(s, "rf", |v| v["last_error"].is_null()).await;
    }
    for bmc in bmcs {
        bmc.stop().await;
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "answers differ from real Ironic:\n{}",
        differences.join("\n")
    );
}
