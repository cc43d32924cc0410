//! Allocations against REAL Ironic 39.0.0 and the mock, side by side: the allocation process
//! (resource class, traits, candidate nodes, a node named like the allocation; every reason none
//! fits), the node's `instance_uuid` and `allocation_uuid` once allocated, every invalid request,
//! list with filters and paging, show, a node's allocation, JSON patch of `name` and `extra`,
//! delete releasing the node — refused while the node is deployed unless it is in maintenance —,
//! the answers below 1.52, and backfilling (1.58: a deployed node's allocation, each reason a node
//! does not fit, a second one for the same node, the PATCH refusals). Each request is sent while only one node can fit, so Ironic's
//! random pick among fitting nodes cannot make the servers differ.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step, node_keys, replay};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

/// Replays `steps`, then waits on both servers until each `(path, key, value)` holds.
async fn phase(
    servers: &mut [Server; 2],
    steps: Vec<(Step, Option<&'static str>)>,
    settle: &[(&str, &str, Value)],
) -> Vec<String> {
    let differences = replay(servers, steps, |l| {
        node_keys(l, &["instance_uuid", "allocation_uuid", "provision_state"])
    })
    .await;
    for (path, key, want) in settle {
        for s in servers.iter_mut() {
            s.settle(path, key, want.clone()).await;
        }
    }
    differences
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_allocations_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let provision = |target: &str| Some(json!({"target": target}));
    let mut differences = Vec::new();
    let node = |name: &str, class: &str| json!({"name": name, "driver": "fake-hardware", "resource_class": class});
    differences.extend(
        phase(
            &mut servers,
            vec![
                step("POST", "/v1/nodes", Some(node("a-n1", "baremetal"))),
                step("POST", "/v1/nodes", Some(node("a-n2", "baremetal"))),
                step("POST", "/v1/nodes", Some(node("a-n3", "other"))),
                step("PUT", "/v1/nodes/a-n2/traits/CUSTOM_GPU", None),
                step(
                    "PUT",
                    "/v1/nodes/a-n1/states/provision",
                    provision("manage"),
                ),
                step(
                    "PUT",
                    "/v1/nodes/a-n2/states/provision",
                    provision("manage"),
                ),
            ],
            &[
                ("/v1/nodes/a-n1", "provision_state", json!("manageable")),
                ("/v1/nodes/a-n2", "provision_state", json!("manageable")),
            ],
        )
        .await,
    );
    differences.extend(
        phase(
            &mut servers,
            vec![
                step(
                    "PUT",
                    "/v1/nodes/a-n1/states/provision",
                    provision("provide"),
                ),
                step(
                    "PUT",
                    "/v1/nodes/a-n2/states/provision",
                    provision("provide"),
                ),
            ],
            &[
                ("/v1/nodes/a-n1", "provision_state", json!("available")),
                ("/v1/nodes/a-n2", "provision_state", json!("available")),
            ],
        )
        .await,
    );
    differences.extend(
        phase(
            &mut servers,
            vec![
                step(
                    "POST",
                    "/v1/allocations",
                    Some(json!({"resource_class": "baremetal", "name": "al-unpowered"})),
                ),
                step(
                    "PUT",
                    "/v1/nodes/a-n1/states/power",
                    Some(json!({"target": "power off"})),
                ),
                step(
                    "PUT",
                    "/v1/nodes/a-n2/states/power",
                    Some(json!({"target": "power off"})),
                ),
            ],
            &[
                ("/v1/allocations/al-unpowered", "state", json!("error")),
                ("/v1/nodes/a-n1", "power_state", json!("power off")),
                ("/v1/nodes/a-n2", "power_state", json!("power off")),
            ],
        )
        .await,
    );
    let allocate = |body: Value, name: &str, state: &str| {
        (
            vec![step("POST", "/v1/allocations", Some(body))],
            vec![(format!("/v1/allocations/{name}"), state.to_string())],
        )
    };
    for (steps, settle) in [
        allocate(
            json!({"resource_class": "baremetal", "traits": ["CUSTOM_GPU"], "name": "al-gpu", "extra": {"x": 1}}),
            "al-gpu",
            "active",
        ),
        allocate(
            json!({"resource_class": "baremetal", "traits": ["CUSTOM_GPU"], "name": "al-none"}),
            "al-none",
            "error",
        ),
        allocate(
            json!({"resource_class": "baremetal", "candidate_nodes": ["a-n2"], "name": "al-cand"}),
            "al-cand",
            "error",
        ),
        allocate(
            json!({"resource_class": "other", "name": "al-other"}),
            "al-other",
            "error",
        ),
        allocate(
            json!({"resource_class": "baremetal", "name": "a-n1"}),
            "a-n1",
            "active",
        ),
    ] {
        let settle: Vec<(&str, &str, Value)> = settle
            .iter()
            .map(|(p, s)| (p.as_str(), "state", json!(s)))
            .collect();
        differences.extend(phase(&mut servers, steps, &settle).await);
    }
    let old = Some("1.51");
    differences.extend(
        phase(
            &mut servers,
            vec![
                step("GET", "/v1/allocations/al-unpowered", None),
                step("GET", "/v1/allocations/al-gpu", None),
                step("GET", "/v1/allocations/al-none", None),
                step("GET", "/v1/allocations/al-cand", None),
                step("GET", "/v1/allocations/al-other?fields=state,last_error,node_uuid", None),
                step("GET", "/v1/allocations/a-n1?fields=state,last_error,node_uuid", None),
                step("GET", "/v1/nodes/a-n2", None),
                step("GET", "/v1/nodes/a-n1", None),
                step("POST", "/v1/allocations", Some(json!({"name": "al-x"}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal", "candidate_nodes": ["nope"]}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal", "traits": ["bad"]}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal", "traits": "CUSTOM_GPU"}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal", "bogus": 1}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "x".repeat(81)}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal", "name": "bad name"}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal", "name": "al-gpu"}))),
                step("POST", "/v1/allocations", Some(json!({"resource_class": 5}))),
                (step("POST", "/v1/allocations", Some(json!({"resource_class": "baremetal"}))).0, old),
                (step("GET", "/v1/allocations", None).0, old),
                step("GET", "/v1/allocations", None),
                step("GET", "/v1/allocations?node=a-n2", None),
                step("GET", "/v1/allocations?node=nope", None),
                step("GET", "/v1/allocations?state=error&fields=name", None),
                step("GET", "/v1/allocations?state=bogus", None),
                step("GET", "/v1/allocations?resource_class=baremetal&fields=name,state", None),
                step("GET", "/v1/allocations?limit=2", None),
                step("GET", "/v1/allocations?limit=2&fields=name", None),
                step("GET", "/v1/allocations?sort_key=name&sort_dir=desc&fields=name", None),
                step("GET", "/v1/allocations?fields=bogus", None),
                step("GET", "/v1/allocations?sort_key=traits", None),
                step("GET", "/v1/allocations?sort_key=bogus", None),
                step("GET", "/v1/allocations?bogus=1", None),
                step("GET", "/v1/allocations/nope", None),
                step("GET", "/v1/nodes/a-n2/allocation", None),
                step("GET", "/v1/nodes/a-n2/allocation?fields=name", None),
                step("GET", "/v1/nodes/a-n3/allocation", None),
                step("GET", "/v1/nodes/nope/allocation", None),
                step("PATCH", "/v1/allocations/al-gpu", Some(json!([{"op": "replace", "path": "/name", "value": "al-gpu2"}, {"op": "add", "path": "/extra/y", "value": 2}]))),
                step("PATCH", "/v1/allocations/al-gpu2", Some(json!([{"op": "replace", "path": "/resource_class", "value": "x"}]))),
                step("PATCH", "/v1/allocations/al-gpu2", Some(json!([{"op": "replace", "path": "/name", "value": "al-none"}]))),
                step("PATCH", "/v1/allocations/nope", Some(json!([{"op": "replace", "path": "/name", "value": "z"}]))),
                step("DELETE", "/v1/allocations/al-none", None),
                step("DELETE", "/v1/nodes/a-n1/allocation", None),
                step("GET", "/v1/nodes/a-n1", None),
                step("DELETE", "/v1/nodes/a-n1/allocation", None),
                step("DELETE", "/v1/allocations/nope", None),
                step("PUT", "/v1/nodes/a-n2/states/provision", provision("active")),
            ],
            &[("/v1/nodes/a-n2", "provision_state", json!("active"))],
        )
        .await,
    );
    differences.extend(
        phase(
            &mut servers,
            vec![
                step("DELETE", "/v1/allocations/al-gpu2", None),
                step("PUT", "/v1/nodes/a-n2/maintenance", None),
                step("DELETE", "/v1/nodes/a-n2/allocation", None),
                step("GET", "/v1/nodes/a-n2", None),
                step("GET", "/v1/allocations?fields=name,state,node_uuid", None),
            ],
            &[],
        )
        .await,
    );
    // Backfilling (1.58): a deployed node's allocation recorded after the fact, each reason a
    // node does not fit (answered 500 and kept in `error`, as Ironic's conductor does), and the
    // PATCH rules.
    let failed = |n: u32| format!("0a6bd4f6-0000-4000-8000-00000000010{n}");
    differences.extend(
        phase(
            &mut servers,
            vec![
                step("POST", "/v1/allocations", Some(json!({"node": "a-n3", "uuid": failed(1), "traits": ["CUSTOM_GPU"], "candidate_nodes": ["a-n1"]}))),
                step("POST", "/v1/allocations", Some(json!({"node": "a-n2", "uuid": failed(2), "resource_class": "other"}))),
                step("POST", "/v1/allocations", Some(json!({"node": "nope"}))),
                (step("POST", "/v1/allocations", Some(json!({"node": "a-n2", "resource_class": "baremetal"}))).0, Some("1.57")),
                step("POST", "/v1/allocations", Some(json!({"node": "a-n2", "name": "al-bf", "extra": {"b": 1}}))),
                step("POST", "/v1/allocations", Some(json!({"node": "a-n2", "name": "al-bf2"}))),
                step("GET", "/v1/nodes/a-n2", None),
                step("GET", "/v1/nodes/a-n2/allocation", None),
                step("GET", "/v1/allocations?fields=name,state,node_uuid,last_error", None),
                step("PATCH", "/v1/allocations/al-bf", Some(json!([{"op": "replace", "path": "/node", "value": "a-n1"}]))),
                step("PATCH", "/v1/allocations/al-bf", Some(json!([{"op": "replace", "path": "/owner", "value": "o"}]))),
                step("PATCH", "/v1/allocations/al-bf", Some(json!([{"op": "replace", "path": "/name", "value": "bad name"}]))),
                (step("PATCH", "/v1/allocations/al-bf", Some(json!([{"op": "replace", "path": "/name", "value": "x"}]))).0, Some("1.56")),
                step("PATCH", "/v1/allocations/al-bf", Some(json!([{"op": "remove", "path": "/extra/b"}]))),
                step("PATCH", "/v1/allocations/al-bf", Some(json!([{"op": "remove", "path": "/name"}]))),
                step("GET", "/v1/nodes/a-n2/allocation?fields=name,extra,state", None),
            ],
            &[],
        )
        .await,
    );
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves allocations differently from real Ironic:\n{}",
        differences.join("\n")
    );
}

/// Real Ironic 39 stores an allocation whose `uuid` is no UUID (its own response schema then
/// fails, and the record stays `allocating` and cannot be found by that identifier); the mock
/// refuses it, as every other resource's UUID is refused.
#[tokio::test]
async fn the_mock_refuses_an_allocation_uuid_that_is_no_uuid() {
    use metal_sim::ironic::conductor::Settings;
    let mock = support::ironic::start_mock(Settings::with(Timings::instant(), false), 7).await;
    let mut s = Server::new(&mock.url, "1.89");
    let body = json!({"resource_class": "baremetal", "uuid": "nope"});
    let answer = s.call("POST", "/v1/allocations", Some(body), None).await;
    assert!(
        answer.starts_with("400") && answer.contains("Expected UUID for uuid: nope"),
        "{answer}"
    );
    let listed = s.call("GET", "/v1/allocations", None, None).await;
    assert!(listed.contains("{\"allocations\":[]}"), "{listed}");
    mock.task.abort();
}
