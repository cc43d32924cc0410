//! A redfish node's boot mode, secure boot state and health against REAL Ironic 39 and the mock,
//! side by side: each manages a node on its own fake Redfish BMC (both syncing power every
//! second), then the node's `boot_mode`, `secure_boot` and `health` by microversion (1.75, 1.109)
//! once health is first read; the BMC's drive is degraded (the fake BMC rolls `Warning` up to the
//! System) and both servers' next sync reads it; the history then holds the same `monitoring`
//! events. A fake-hardware node reads none of them. Same status and body once addresses, UUIDs
//! and times are replaced by labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
#[path = "redfish_fixture.rs"]
mod redfish_fixture;
mod support;

use chrono::TimeDelta;
use ironic_real::compare::{Server, Step, replay};
use metal_sim::fault::{Degraded, FaultSet, Health, PartKind};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> Step {
    (method, path.to_string(), body)
}

/// Creates and manages the redfish node `rf` on its own fake BMC and the fake-hardware node
/// `fk`; returns the BMC.
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
    server.settle("/v1/nodes/rf", "health", json!("OK")).await;
    bmc
}

/// The node fields this test is about (the node document is compared elsewhere); other lines as
/// they are.
fn fields_of_interest(line: &str) -> String {
    let (head, body) = line.split_once(" location=").unwrap_or((line, ""));
    let body = body.split_once(' ').map_or(body, |(_, b)| b);
    let mut v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if let Some(events) = v.get_mut("history").and_then(Value::as_array_mut) {
        // Event UUIDs are each server's own.
        for e in events.iter_mut() {
            e["uuid"] = json!("<event>");
            e["links"] = json!("<links>");
        }
        return format!("{head} {v}");
    }
    if v.get("driver").is_some() {
        let keys = ["boot_mode", "secure_boot", "health"];
        let shown: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "{k}={}",
                    v.get(*k).map_or("absent".into(), Value::to_string)
                )
            })
            .collect();
        format!("{head} {}", shown.join(" "))
    } else {
        line.to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_and_real_ironic_cache_boot_mode_and_health_alike() {
    let timings = Timings {
        power_sync: TimeDelta::seconds(1),
        ..Timings::instant()
    };
    let Some((real, mock, task)) = ironic_real::start_real_and_mock_with(
        timings,
        9,
        "[conductor]\nsync_power_state_interval=1",
    )
    .await
    else {
        return;
    };
    let mut servers = [
        Server::new(real.url(), "1.109"),
        Server::new(&mock, "1.109"),
    ];
    let mut bmcs = Vec::new();
    for s in servers.iter_mut() {
        bmcs.push(enrolled(s).await);
    }
    let get = |path: &str, version: Option<&'static str>| (step("GET", path, None), version);
    let before: Vec<(Step, Option<&str>)> = vec![
        get("/v1/nodes/rf", None),
        get("/v1/nodes/rf", Some("1.108")),
        get("/v1/nodes/rf", Some("1.74")),
        get("/v1/nodes/fk", None),
        get("/v1/nodes/rf?fields=health,boot_mode", None),
    ];
    let mut differences = replay(&mut servers, before, fields_of_interest).await;
    for bmc in &bmcs {
        let host = &bmc.world.hosts()[0];
        host.set_faults(
            bmc.world.now(),
            FaultSet {
                degraded: vec![Degraded {
                    part: PartKind::Drive,
                    index: 0,
                    health: Health::Warning,
                }],
                ..FaultSet::default()
            },
        );
    }
    for s in servers.iter_mut() {
        s.settle("/v1/nodes/rf", "health", json!("Warning")).await;
    }
    let after: Vec<(Step, Option<&str>)> = vec![
        get("/v1/nodes/rf", None),
        get("/v1/nodes/rf/history?detail=true", None),
    ];
    differences.extend(replay(&mut servers, after, fields_of_interest).await);
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
