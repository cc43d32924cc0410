//! A node's BIOS settings against REAL Ironic 39 and the mock, side by side: each drives its own
//! fake Redfish BMC (the same hardware profile) through `manage`, which caches the BIOS settings
//! the BMC reports; then the settings list (default and `detail` fields by microversion, `fields`),
//! one setting, an unknown setting, an unknown node and a node whose driver has no BIOS interface.
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

/// Creates the redfish node `rf` on `server`, managed through its own fake BMC, and the
/// fake-hardware node `fk` (no BIOS interface). Returns the BMC to stop at the end.
async fn enrolled(server: &mut Server) -> redfish_fixture::Server {
    let bmc = redfish_fixture::Server::start(1, false, metal_sim::machine::Timing::instant()).await;
    let info = json!({
        "redfish_address": bmc.base_url(),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", redfish_fixture::system_id(&bmc.world)),
        "redfish_username": redfish_fixture::USER,
        "redfish_password": redfish_fixture::PASSWORD,
    });
    let created = server
        .call(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "rf", "driver": "redfish", "driver_info": info})),
            None,
        )
        .await;
    assert!(created.starts_with("201"), "create rf: {created}");
    let created = server
        .call(
            "POST",
            "/v1/nodes",
            Some(json!({"name": "fk", "driver": "fake-hardware"})),
            None,
        )
        .await;
    assert!(created.starts_with("201"), "create fk: {created}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_cache_and_serve_bios_settings_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 3).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let mut bmcs = Vec::new();
    for s in servers.iter_mut() {
        bmcs.push(enrolled(s).await);
    }
    let steps: Vec<(Step, Option<&str>)> = vec![
        (step("GET", "/v1/nodes/rf", None), None),
        (step("GET", "/v1/nodes/rf/bios", None), None),
        (step("GET", "/v1/nodes/rf/bios", None), Some("1.73")),
        (step("GET", "/v1/nodes/rf/bios", None), Some("1.39")),
        (step("GET", "/v1/nodes/rf/bios?detail=true", None), None),
        (
            step("GET", "/v1/nodes/rf/bios?detail=true", None),
            Some("1.73"),
        ),
        (step("GET", "/v1/nodes/rf/bios?fields=name", None), None),
        (
            step("GET", "/v1/nodes/rf/bios?fields=name,read_only", None),
            None,
        ),
        (
            step("GET", "/v1/nodes/rf/bios?detail=true&fields=name", None),
            None,
        ),
        (step("GET", "/v1/nodes/rf/bios?fields=bogus", None), None),
        (
            step("GET", "/v1/nodes/rf/bios/ProcVirtualization", None),
            None,
        ),
        (
            step("GET", "/v1/nodes/rf/bios/ProcVirtualization", None),
            Some("1.73"),
        ),
        (
            step("GET", "/v1/nodes/rf/bios/NumaNodesPerSocket", None),
            None,
        ),
        (step("GET", "/v1/nodes/rf/bios/NoSuchSetting", None), None),
        (step("GET", "/v1/nodes/nosuchnode/bios", None), None),
        (step("GET", "/v1/nodes/fk/bios", None), None),
        (step("POST", "/v1/nodes/rf/bios", Some(json!({}))), None),
    ];
    let differences = replay(&mut servers, steps, |line| {
        // The node document is compared elsewhere: only its BIOS interface matters here.
        let (head, body) = line.split_once(" location=").unwrap_or((line, ""));
        let body = body.split_once(' ').map_or(body, |(_, b)| b);
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if v.get("driver").is_some() {
            format!("{head} bios_interface={}", v["bios_interface"])
        } else {
            line.to_string()
        }
    })
    .await;
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
