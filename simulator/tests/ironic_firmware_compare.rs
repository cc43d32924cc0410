//! A node's firmware components against REAL Ironic 39 and the mock, side by side: each drives its
//! own fake Redfish BMC (the same hardware profile) through `manage`, which caches the components
//! the BMC reports for a node whose firmware interface is `redfish`; then the list by microversion
//! (1.85 not served, identity fields from 1.114), `fields`, `detail` and every refusal, a redfish
//! node with `no-firmware`, a fake-hardware node, an unknown node. Same status and body once
//! addresses, UUIDs and times are replaced by labels.

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

/// Creates the redfish nodes `rf` (firmware interface `redfish`) and `rn` (the default,
/// `no-firmware`) on their own fake BMC, and the fake-hardware node `fk`, and manages them.
/// Returns the BMC to stop at the end.
async fn enrolled(server: &mut Server) -> redfish_fixture::Server {
    let bmc = redfish_fixture::Server::start(1, false, metal_sim::machine::Timing::instant()).await;
    let info = json!({
        "redfish_address": bmc.base_url(),
        "redfish_system_id": format!("/redfish/v1/Systems/{}", redfish_fixture::system_id(&bmc.world)),
        "redfish_username": redfish_fixture::USER,
        "redfish_password": redfish_fixture::PASSWORD,
    });
    let bodies = [
        json!({"name": "rf", "driver": "redfish", "driver_info": info, "firmware_interface": "redfish"}),
        json!({"name": "rn", "driver": "redfish", "driver_info": info}),
        json!({"name": "fk", "driver": "fake-hardware"}),
    ];
    for body in bodies {
        let created = server.call("POST", "/v1/nodes", Some(body), None).await;
        assert!(created.starts_with("201"), "create: {created}");
    }
    for node in ["rf", "rn", "fk"] {
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
async fn mock_and_real_ironic_cache_and_serve_firmware_components_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 5).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let mut bmcs = Vec::new();
    for s in servers.iter_mut() {
        bmcs.push(enrolled(s).await);
    }
    let get = |path: &str, version: Option<&'static str>| (step("GET", path, None), version);
    let steps: Vec<(Step, Option<&str>)> = vec![
        get("/v1/nodes/rf", None),
        get("/v1/nodes/rf/firmware", None),
        get("/v1/nodes/rf/firmware", Some("1.85")),
        get("/v1/nodes/rf/firmware", Some("1.86")),
        get("/v1/nodes/rf/firmware", Some("1.113")),
        get("/v1/nodes/rf/firmware", Some("1.114")),
        get("/v1/nodes/rf/firmware", Some("1.115")),
        get(
            "/v1/nodes/rf/firmware?fields=component,current_version",
            None,
        ),
        get(
            "/v1/nodes/rf/firmware?fields=component,model",
            Some("1.114"),
        ),
        get("/v1/nodes/rf/firmware?fields=vendor,model", Some("1.113")),
        get("/v1/nodes/rf/firmware?fields=bogus", None),
        get("/v1/nodes/rf/firmware?detail=true", None),
        get("/v1/nodes/rf/firmware?detail=false", Some("1.114")),
        get("/v1/nodes/rf/firmware?detail=true&fields=component", None),
        get("/v1/nodes/rf/firmware?detail=bogus", None),
        get("/v1/nodes/rf/firmware?limit=1", None),
        get("/v1/nodes/rf/firmware?fields=component&marker=x", None),
        get("/v1/nodes/rn/firmware", None),
        get("/v1/nodes/fk/firmware", None),
        get("/v1/nodes/nosuchnode/firmware", None),
        (step("POST", "/v1/nodes/rf/firmware", Some(json!({}))), None),
        get("/v1/nodes/rf/firmware/bios", None),
    ];
    let differences = replay(&mut servers, steps, |line| {
        // The node document is compared elsewhere: only its firmware interface matters here.
        let (head, body) = line.split_once(" location=").unwrap_or((line, ""));
        let body = body.split_once(' ').map_or(body, |(_, b)| b);
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if v.get("driver").is_some() {
            format!("{head} firmware_interface={}", v["firmware_interface"])
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
