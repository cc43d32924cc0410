//! A node's children and the shards against REAL Ironic 39.0.0 and the mock, side by side:
//! `parent_node` given by UUID or name (and refused when it names no node), `/v1/nodes/{id}/children`,
//! the `parent_node` filter, `/v1/shards` counting nodes per shard, and the answers below 1.82.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_children_and_shards_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let node = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "driver": "fake-hardware"});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        Some(body)
    };
    let steps = vec![
        step("GET", "/v1/shards", None),
        step("POST", "/v1/nodes", node("f-p", json!({"shard": "s1"}))),
        step(
            "POST",
            "/v1/nodes",
            node("f-c1", json!({"shard": "s1", "parent_node": "{f-p}"})),
        ),
        step(
            "POST",
            "/v1/nodes",
            node("f-c2", json!({"shard": "s2", "parent_node": "f-p"})),
        ),
        step(
            "POST",
            "/v1/nodes",
            node("f-c3", json!({"parent_node": "nope"})),
        ),
        step("POST", "/v1/nodes", node("f-lone", json!({}))),
        step("GET", "/v1/nodes/f-c2?fields=parent_node,shard", None),
        step("GET", "/v1/nodes/f-p/children", None),
        step("GET", "/v1/nodes/{f-p}/children", None),
        step("GET", "/v1/nodes/f-c1/children", None),
        step("GET", "/v1/nodes/nope/children", None),
        step("GET", "/v1/nodes?parent_node={f-p}&fields=name", None),
        step("GET", "/v1/nodes?parent_node=f-p&fields=name", None),
        step("GET", "/v1/shards", None),
        (step("GET", "/v1/shards", None).0, Some("1.81")),
        step(
            "PATCH",
            "/v1/nodes/f-lone",
            Some(
                json!([{"op": "add", "path": "/parent_node", "value": "f-c1"}, {"op": "add", "path": "/shard", "value": "s2"}]),
            ),
        ),
        step(
            "PATCH",
            "/v1/nodes/f-lone",
            Some(json!([{"op": "replace", "path": "/parent_node", "value": "nope"}])),
        ),
        step("GET", "/v1/nodes/f-c1/children", None),
        step("DELETE", "/v1/nodes/f-c2", None),
        step("GET", "/v1/nodes/f-p/children", None),
        step("GET", "/v1/shards", None),
    ];
    let differences = replay(&mut servers, steps, |l| {
        node_keys(l, &["parent_node", "shard"])
    })
    .await;
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves children and shards differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
