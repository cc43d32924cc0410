//! Port JSON-patch updates against REAL Ironic 39.0.0 and the mock, side by side: `extra`, the
//! address (normalised, invalid, taken), `pxe_enabled`, joining and leaving a port group, the
//! fields no patch may change, a port that does not exist, and PUT (not served). Same status, same
//! body once UUIDs and times are labels.
//!
//! Left out (real-Ironic bugs, see docs/ironic-differences.md): joining a group of another node
//! (real Ironic accepts it on PATCH, refuses it on create) and moving a port to another node (real
//! Ironic answers 500 `'address'`); the mock refuses the first and moves the port.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

fn replace(path: &str, value: Value) -> Option<Value> {
    Some(json!([{"op": "replace", "path": path, "value": value}]))
}

const PORT: &str = "/v1/ports/{52:54:00:00:0c:01}";

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_patch_ports_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let node = |name: &str| {
        step(
            "POST",
            "/v1/nodes",
            Some(json!({"name": name, "driver": "fake-hardware"})),
        )
    };
    let steps = vec![
        node("pp-n1"),
        node("pp-n2"),
        step(
            "POST",
            "/v1/ports",
            Some(json!({"node_uuid": "{pp-n1}", "address": "52:54:00:00:0c:01"})),
        ),
        step(
            "POST",
            "/v1/ports",
            Some(json!({"node_uuid": "{pp-n1}", "address": "52:54:00:00:0c:02"})),
        ),
        step(
            "POST",
            "/v1/portgroups",
            Some(json!({"node_uuid": "{pp-n1}", "name": "pp-pg1"})),
        ),
        step(
            "POST",
            "/v1/portgroups",
            Some(json!({"node_uuid": "{pp-n2}", "name": "pp-pg2"})),
        ),
        step("PATCH", PORT, replace("/extra", json!({"a": 1}))),
        step(
            "PATCH",
            PORT,
            Some(
                json!([{"op": "add", "path": "/extra/b", "value": 2}, {"op": "remove", "path": "/extra/a"}]),
            ),
        ),
        step("PATCH", PORT, replace("/address", json!("zz"))),
        step(
            "PATCH",
            PORT,
            replace("/address", json!("52:54:00:00:0C:AA")),
        ),
        step(
            "PATCH",
            PORT,
            replace("/address", json!("52:54:00:00:0c:02")),
        ),
        step("PATCH", PORT, replace("/pxe_enabled", json!("x"))),
        step("PATCH", PORT, replace("/pxe_enabled", json!(false))),
        step("PATCH", PORT, replace("/portgroup_uuid", json!("{pp-pg1}"))),
        step("GET", "/v1/portgroups/pp-pg1/ports", None),
        step("PATCH", PORT, replace("/portgroup_uuid", Value::Null)),
        step("PATCH", PORT, replace("/uuid", json!("x"))),
        step("PATCH", PORT, replace("/internal_info", json!({}))),
        step("PATCH", PORT, replace("/bogus", json!(1))),
        step(
            "PATCH",
            "/v1/ports/0a6bd4f6-0000-4000-8000-000000000009",
            replace("/extra", json!({})),
        ),
        step("PUT", PORT, Some(json!({}))),
        step("GET", PORT, None),
        step(
            "GET",
            "/v1/ports?fields=address,node_uuid,portgroup_uuid",
            None,
        ),
    ];
    let differences = replay(&mut servers, steps, |l| node_keys(l, &[])).await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock patches ports differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
