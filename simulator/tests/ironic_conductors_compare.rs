//! Conductors against REAL Ironic 39.0.0 and the mock, side by side: the list (`detail`,
//! `fields`, paging with the host name as marker, sorting and its refusals), show, the methods not
//! served, below 1.49; a node's `conductor` and `conductor_group` fields, the `conductor` and
//! `conductor_group` filters, and a conductor group no conductor serves (refused on create and
//! PATCH). Same status, same body once UUIDs and times are labels and the host names (each server
//! its own) and `alive` (real Ironic's all-in-one conductor stops heartbeating after a minute)
//! are written alike.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use ironic_real::compare::{Server, Step};
use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

fn step(method: &'static str, path: &str, body: Option<Value>) -> (Step, Option<&'static str>) {
    ((method, path.to_string(), body), None)
}

fn at(version: &'static str, s: (Step, Option<&'static str>)) -> (Step, Option<&'static str>) {
    (s.0, Some(version))
}

/// The real conductor's host name (`ironic_real`'s configuration) and the mock's.
const REAL_HOST: &str = "metal-sim-compare";
const MOCK_HOST: &str = "localhost";

fn alike(line: &str) -> String {
    let line = line.replace(REAL_HOST, MOCK_HOST);
    let line = line.replace("\"alive\":false", "\"alive\":true");
    // Node documents are compared elsewhere: keep what this test is about.
    let (head, body) = line.split_once(' ').unwrap_or((&line, ""));
    let body = body.split_once(' ').map_or(body, |(_, b)| b);
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if v.get("driver").is_some() {
        format!(
            "{head} name={} conductor={} conductor_group={}",
            v["name"], v["conductor"], v["conductor_group"]
        )
    } else {
        line
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_conductors_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [Server::new(real.url(), "1.89"), Server::new(&mock, "1.89")];
    let node = |name: &str, group: Value| {
        step(
            "POST",
            "/v1/nodes",
            Some(json!({"name": name, "driver": "fake-hardware", "conductor_group": group})),
        )
    };
    let steps = vec![
        step("GET", "/v1/conductors", None),
        step("GET", "/v1/conductors?detail=True", None),
        step("GET", "/v1/conductors?detail=False&limit=1", None),
        step("GET", "/v1/conductors?limit=1", None),
        step("GET", &format!("/v1/conductors?marker={MOCK_HOST}"), None),
        step("GET", "/v1/conductors?marker=nope", None),
        step("GET", "/v1/conductors?fields=hostname,alive", None),
        step("GET", "/v1/conductors?fields=bogus", None),
        step("GET", "/v1/conductors?fields=hostname&detail=True", None),
        step(
            "GET",
            "/v1/conductors?sort_key=hostname&sort_dir=desc",
            None,
        ),
        step("GET", "/v1/conductors?sort_key=bogus", None),
        step("GET", "/v1/conductors?sort_key=drivers", None),
        step("GET", "/v1/conductors?sort_dir=up", None),
        step("GET", "/v1/conductors?limit=0", None),
        step("GET", "/v1/conductors?bogus=1", None),
        step("GET", "/v1/conductors/nope", None),
        step("GET", "/v1/conductors/detail", None),
        step("POST", "/v1/conductors", Some(json!({}))),
        at("1.48", step("GET", "/v1/conductors", None)),
        node("c-n1", json!("")),
        node("c-n2", json!("G1")),
        node("c-n2", json!("bad group")),
        step("GET", "/v1/nodes/c-n1", None),
        step(
            "PATCH",
            "/v1/nodes/c-n1",
            Some(json!([{"op": "replace", "path": "/conductor_group", "value": "g1"}])),
        ),
        step(
            "PATCH",
            "/v1/nodes/c-n1",
            Some(json!([{"op": "replace", "path": "/conductor_group", "value": ""}])),
        ),
        step("GET", "/v1/nodes?conductor_group=g1&fields=name", None),
        step("GET", "/v1/nodes?conductor_group=&fields=name", None),
        step("GET", "/v1/nodes?conductor=nope&fields=name", None),
    ];
    let mut steps = steps;
    for s in [
        format!("/v1/conductors/{MOCK_HOST}"),
        format!("/v1/conductors/{MOCK_HOST}?fields=hostname"),
        format!("/v1/conductors/{MOCK_HOST}?fields=bogus"),
        format!("/v1/nodes?conductor={MOCK_HOST}&fields=name"),
    ] {
        steps.push(step("GET", &s, None));
    }
    steps.push(step("DELETE", &format!("/v1/conductors/{MOCK_HOST}"), None));
    // Each server is asked about its own host name (so not through the shared `replay`).
    let mut differences = Vec::new();
    for ((method, path, body), version) in steps {
        let mut seen = Vec::new();
        for (i, s) in servers.iter_mut().enumerate() {
            let p = if i == 0 {
                path.replace(MOCK_HOST, REAL_HOST)
            } else {
                path.clone()
            };
            seen.push(alike(&s.call(method, &p, body.clone(), version).await));
        }
        println!("{method} {path}\n  real: {}\n  mock: {}", seen[0], seen[1]);
        if seen[0] != seen[1] {
            differences.push(format!(
                "{method} {path}\n  real: {}\n  mock: {}",
                seen[0], seen[1]
            ));
        }
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves conductors differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
