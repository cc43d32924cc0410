//! Chassis against REAL Ironic 39.0.0 and the mock, side by side: create (and every invalid
//! body), list, detail, show with `fields`, JSON-patch updates (and the refused ones), nodes in a
//! chassis (`chassis_uuid` on create and patch, `/v1/chassis/{id}/nodes`, the `chassis_uuid`
//! filter), delete refused while the chassis holds nodes. Same status, same body once addresses,
//! UUIDs and times are replaced by labels.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use std::collections::BTreeMap;

use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

/// A chassis UUID the requests name (created with it, or absent).
const FIXED: &str = "0a6bd4f6-0000-4000-8000-000000000002";
const ABSENT: &str = "0a6bd4f6-0000-4000-8000-000000000009";

struct Server {
    http: reqwest::Client,
    base: String,
    labels: BTreeMap<String, String>,
}

impl Server {
    async fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> String {
        let path = self.resolve(path);
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("X-OpenStack-Ironic-API-Version", "1.89");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.expect("body");
        let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // Remember what was created under a label: chassis by description, nodes by name.
        if status == 201 {
            let label = v["name"]
                .as_str()
                .or(v["description"].as_str())
                .unwrap_or("chassis-without-description")
                .to_string();
            if let Some(u) = v["uuid"].as_str() {
                self.labels.entry(u.to_string()).or_insert(label);
            }
        }
        blank_times(&mut v);
        let mut out = format!(
            "{status} location={} {}",
            location.unwrap_or_default(),
            serde_json::to_string(&v).unwrap()
        );
        out = out.replace(&self.base, "<base>");
        for (uuid, label) in &self.labels {
            out = out.replace(uuid, &format!("<{label}>"));
        }
        out
    }

    fn resolve(&self, path: &str) -> String {
        let mut out = path.to_string();
        for (uuid, label) in &self.labels {
            out = out.replace(&format!("{{{label}}}"), uuid);
        }
        out
    }
}

/// Times differ between servers: only whether one is set is compared.
fn blank_times(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if (k.ends_with("_at") || k == "provision_updated_at") && !x.is_null() {
                    *x = json!("<time>");
                } else {
                    blank_times(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(blank_times),
        _ => {}
    }
}

/// Fields of a node document kept in the comparison (the rest is compared by other tests).
fn node_keys(line: &str) -> String {
    // Node documents are long and their other fields are covered by ironic_compare: keep the
    // status, the name, the chassis and the error.
    let (head, body) = line.split_once(' ').unwrap_or((line, ""));
    let body = body.split_once(' ').map_or(body, |(_, b)| b);
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if v.get("driver").is_some() {
        format!("{head} name={} chassis={}", v["name"], v["chassis_uuid"])
    } else {
        line.to_string()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_serve_chassis_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [real.url().to_string(), mock].map(|base| Server {
        http: reqwest::Client::new(),
        base,
        labels: BTreeMap::new(),
    });
    let long = "x".repeat(256);
    let steps: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/v1/chassis".into(),
            Some(json!({"description": "rack 1", "extra": {"row": 3}})),
        ),
        (
            "POST",
            "/v1/chassis".into(),
            Some(json!({"uuid": FIXED, "description": "rack 2"})),
        ),
        ("POST", "/v1/chassis".into(), Some(json!({"uuid": FIXED}))),
        ("POST", "/v1/chassis".into(), Some(json!({"uuid": "nope"}))),
        ("POST", "/v1/chassis".into(), Some(json!({"bogus": 1}))),
        (
            "POST",
            "/v1/chassis".into(),
            Some(json!({"description": long})),
        ),
        (
            "POST",
            "/v1/chassis".into(),
            Some(json!({"description": 5})),
        ),
        ("POST", "/v1/chassis".into(), Some(json!({"extra": "str"}))),
        ("POST", "/v1/chassis".into(), Some(json!([]))),
        ("GET", "/v1/chassis".into(), None),
        ("GET", "/v1/chassis/detail".into(), None),
        ("GET", "/v1/chassis?limit=1".into(), None),
        (
            "GET",
            "/v1/chassis/detail?limit=1&sort_key=description&sort_dir=desc".into(),
            None,
        ),
        ("GET", "/v1/chassis?fields=extra".into(), None),
        ("GET", "/v1/chassis?fields=bogus".into(), None),
        ("GET", "/v1/chassis?sort_key=extra".into(), None),
        ("GET", "/v1/chassis?sort_key=bogus".into(), None),
        ("GET", format!("/v1/chassis?marker={ABSENT}"), None),
        (
            "GET",
            "/v1/chassis/{rack 1}?fields=description".into(),
            None,
        ),
        ("GET", format!("/v1/chassis/{ABSENT}"), None),
        ("GET", "/v1/chassis/notauuid".into(), None),
        (
            "PATCH",
            "/v1/chassis/{rack 1}".into(),
            Some(
                json!([{"op": "replace", "path": "/description", "value": "rack 1b"}, {"op": "add", "path": "/extra/col", "value": "b"}]),
            ),
        ),
        (
            "PATCH",
            "/v1/chassis/{rack 1}".into(),
            Some(json!([{"op": "replace", "path": "/uuid", "value": ABSENT}])),
        ),
        (
            "PATCH",
            "/v1/chassis/{rack 1}".into(),
            Some(json!([{"op": "add", "path": "/bogus", "value": 1}])),
        ),
        (
            "PATCH",
            "/v1/chassis/{rack 1}".into(),
            Some(json!([{"op": "replace", "path": "/extra", "value": "s"}])),
        ),
        (
            "PATCH",
            "/v1/chassis/{rack 1}".into(),
            Some(json!([{"op": "remove", "path": "/description"}])),
        ),
        (
            "PATCH",
            format!("/v1/chassis/{ABSENT}"),
            Some(json!([{"op": "replace", "path": "/description", "value": "x"}])),
        ),
        (
            "POST",
            "/v1/nodes".into(),
            Some(json!({"name": "n-a", "driver": "fake-hardware", "chassis_uuid": FIXED})),
        ),
        (
            "POST",
            "/v1/nodes".into(),
            Some(json!({"name": "n-b", "driver": "fake-hardware", "chassis_uuid": ABSENT})),
        ),
        (
            "POST",
            "/v1/nodes".into(),
            Some(json!({"name": "n-c", "driver": "fake-hardware"})),
        ),
        ("GET", format!("/v1/chassis/{FIXED}/nodes"), None),
        ("GET", format!("/v1/chassis/{ABSENT}/nodes"), None),
        ("GET", format!("/v1/nodes?chassis_uuid={FIXED}"), None),
        ("GET", "/v1/nodes/n-a?fields=chassis_uuid".into(), None),
        (
            "PATCH",
            "/v1/nodes/n-c".into(),
            Some(json!([{"op": "add", "path": "/chassis_uuid", "value": ABSENT}])),
        ),
        (
            "PATCH",
            "/v1/nodes/n-c".into(),
            Some(json!([{"op": "add", "path": "/chassis_uuid", "value": FIXED}])),
        ),
        (
            "PATCH",
            "/v1/nodes/n-c".into(),
            Some(json!([{"op": "remove", "path": "/chassis_uuid"}])),
        ),
        ("DELETE", format!("/v1/chassis/{FIXED}"), None),
        ("DELETE", "/v1/nodes/n-a".into(), None),
        ("DELETE", format!("/v1/chassis/{FIXED}"), None),
        ("DELETE", format!("/v1/chassis/{FIXED}"), None),
        ("DELETE", "/v1/chassis/notauuid".into(), None),
        ("GET", "/v1/chassis".into(), None),
    ];
    let mut differences = Vec::new();
    for (method, path, body) in steps {
        let mut seen = Vec::new();
        for s in &mut servers {
            seen.push(node_keys(&s.call(method, &path, body.clone()).await));
        }
        let line = format!("{method} {path}");
        println!("{line}\n  real: {}\n  mock: {}", seen[0], seen[1]);
        if seen[0] != seen[1] {
            differences.push(format!("{line}\n  real: {}\n  mock: {}", seen[0], seen[1]));
        }
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock serves chassis differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
