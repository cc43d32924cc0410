//! Node traits against REAL Ironic 39.0.0 and the mock, side by side: list, replace, add one,
//! remove one or all, `traits` on node show and list by microversion, and every refusal (names
//! that are neither standard nor `CUSTOM_[A-Z0-9_]+`, too long, not strings, bodies of the wrong
//! shape, more than 50, a trait the node lacks, an unknown node, below 1.37). Same status, same
//! body once addresses, UUIDs and times are replaced by labels. Then every standard trait the
//! mock knows is put on a node of each server (real Ironic must accept each name too).

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::Timings;
use metal_sim::ironic::model::standard_traits;
use serde_json::json;

fn step(method: &'static str, path: &str, body: Option<serde_json::Value>) -> Step {
    (method, path.to_string(), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_node_traits_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let long_ok = format!("CUSTOM_{}", "X".repeat(248));
    let too_long = format!("CUSTOM_{}", "X".repeat(249));
    let fifty: Vec<String> = (0..50).map(|i| format!("CUSTOM_T{i}")).collect();
    let fifty_one: Vec<String> = (0..51).map(|i| format!("CUSTOM_T{i}")).collect();
    let old = Some("1.36");
    let steps: Vec<(Step, Option<&str>)> = vec![
        (
            step(
                "POST",
                "/v1/nodes",
                Some(json!({"name": "n-a", "driver": "fake-hardware"})),
            ),
            None,
        ),
        (step("GET", "/v1/nodes/n-a/traits", None), None),
        (step("PUT", "/v1/nodes/n-a/traits/CUSTOM_A", None), None),
        (
            step("PUT", "/v1/nodes/n-a/traits/HW_CPU_X86_AVX2", None),
            None,
        ),
        (
            step("PUT", "/v1/nodes/n-a/traits/CUSTOM_E", Some(json!({}))),
            None,
        ),
        (step("PUT", "/v1/nodes/n-a/traits/custom_a", None), None),
        (
            step("PUT", "/v1/nodes/n-a/traits/HW_BOGUS_THING", None),
            None,
        ),
        (step("PUT", "/v1/nodes/n-a/traits/CUSTOM_", None), None),
        (
            step("PUT", &format!("/v1/nodes/n-a/traits/{long_ok}"), None),
            None,
        ),
        (
            step("PUT", &format!("/v1/nodes/n-a/traits/{too_long}"), None),
            None,
        ),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits/custom_c",
                Some(json!({"traits": []})),
            ),
            None,
        ),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits/CUSTOM_C",
                Some(json!({"traits": ["CUSTOM_D"]})),
            ),
            None,
        ),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits/CUSTOM_C",
                Some(json!({"a": 1})),
            ),
            None,
        ),
        (step("PUT", "/v1/nodes/nope/traits/CUSTOM_C", None), None),
        (step("GET", "/v1/nodes/n-a/traits", None), None),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits",
                Some(json!({"traits": ["CUSTOM_B", "CUSTOM_A", "CUSTOM_B"]})),
            ),
            None,
        ),
        (step("GET", "/v1/nodes/n-a/traits", None), None),
        (
            step("PUT", "/v1/nodes/n-a/traits", Some(json!({"traits": "x"}))),
            None,
        ),
        (
            step("PUT", "/v1/nodes/n-a/traits", Some(json!({"traits": null}))),
            None,
        ),
        (
            step("PUT", "/v1/nodes/n-a/traits", Some(json!({"traits": [1]}))),
            None,
        ),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits",
                Some(json!({"traits": ["CUSTOM_OK", "bad"]})),
            ),
            None,
        ),
        (step("PUT", "/v1/nodes/n-a/traits", Some(json!({}))), None),
        (step("PUT", "/v1/nodes/n-a/traits", None), None),
        (step("PUT", "/v1/nodes/n-a/traits", Some(json!([]))), None),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits",
                Some(json!({"traits": [], "x": 1})),
            ),
            None,
        ),
        (
            step("PUT", "/v1/nodes/nope/traits", Some(json!({"traits": []}))),
            None,
        ),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits",
                Some(json!({"traits": fifty_one})),
            ),
            None,
        ),
        (step("GET", "/v1/nodes/n-a/traits", None), None),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits",
                Some(json!({"traits": fifty})),
            ),
            None,
        ),
        (step("PUT", "/v1/nodes/n-a/traits/CUSTOM_MORE", None), None),
        (step("PUT", "/v1/nodes/n-a/traits/CUSTOM_T3", None), None),
        (step("DELETE", "/v1/nodes/n-a/traits", None), None),
        (
            step(
                "PUT",
                "/v1/nodes/n-a/traits",
                Some(json!({"traits": ["CUSTOM_A", "CUSTOM_B"]})),
            ),
            None,
        ),
        (step("DELETE", "/v1/nodes/n-a/traits/CUSTOM_Z", None), None),
        (step("DELETE", "/v1/nodes/n-a/traits/lower", None), None),
        (step("DELETE", "/v1/nodes/n-a/traits/CUSTOM_A", None), None),
        (step("DELETE", "/v1/nodes/nope/traits/CUSTOM_A", None), None),
        (step("GET", "/v1/nodes/n-a?fields=traits", None), None),
        (step("GET", "/v1/nodes?fields=traits,name", None), None),
        (step("GET", "/v1/nodes/n-a", None), None),
        (step("GET", "/v1/nodes/detail", None), None),
        (step("GET", "/v1/nodes/n-a?fields=bogus", None), None),
        (step("GET", "/v1/nodes/n-a?fields=name,bogus", None), None),
        (
            step(
                "PATCH",
                "/v1/nodes/n-a",
                Some(json!([{"op": "add", "path": "/traits", "value": ["CUSTOM_A"]}])),
            ),
            None,
        ),
        (
            step(
                "POST",
                "/v1/nodes",
                Some(json!({"name": "n-b", "driver": "fake-hardware", "traits": ["CUSTOM_A"]})),
            ),
            None,
        ),
        (step("PATCH", "/v1/nodes/n-a/traits", None), None),
        (step("GET", "/v1/nodes/n-a/traits/CUSTOM_B", None), None),
        (step("POST", "/v1/nodes/n-a/traits/CUSTOM_B", None), None),
        (step("GET", "/v1/nodes/nope/traits", None), None),
        (step("GET", "/v1/nodes/n-a/traits", None), old),
        (
            step("PUT", "/v1/nodes/n-a/traits", Some(json!({"traits": []}))),
            old,
        ),
        (step("PUT", "/v1/nodes/n-a/traits/CUSTOM_A", None), old),
        (step("DELETE", "/v1/nodes/n-a/traits", None), old),
        (step("DELETE", "/v1/nodes/n-a/traits/CUSTOM_B", None), old),
        (step("GET", "/v1/nodes/n-a?fields=traits", None), old),
        (step("GET", "/v1/nodes?fields=traits", None), old),
        (step("GET", "/v1/nodes/n-a", None), old),
        (step("GET", "/v1/nodes/n-a", None), Some("1.37")),
        (step("DELETE", "/v1/nodes/n-a/traits", None), None),
        (step("GET", "/v1/nodes/n-a/traits", None), None),
    ];
    let mut differences = replay(&mut servers, steps, |l| node_keys(l, &["traits"])).await;
    // Every standard name the mock accepts, fifty at a time: real Ironic must accept it too.
    let names = standard_traits();
    for chunk in names.chunks(50) {
        let body = json!({"traits": chunk});
        let answers = [
            servers[0]
                .call("PUT", "/v1/nodes/n-a/traits", Some(body.clone()), None)
                .await,
            servers[1]
                .call("PUT", "/v1/nodes/n-a/traits", Some(body), None)
                .await,
        ];
        if answers[0] != answers[1] {
            differences.push(format!(
                "PUT {} standard traits from {}\n  real: {}\n  mock: {}",
                chunk.len(),
                chunk[0],
                answers[0],
                answers[1]
            ));
        }
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves node traits differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
