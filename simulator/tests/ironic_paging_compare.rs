//! Paging of node and port listings against REAL Ironic 39.0.0 and the mock, side by side: the
//! same requests (`limit`, `marker`, `sort_key`, `sort_dir`, `fields`, `detail`, filters, bad
//! values) must give the same status, the same items in the same order, the same `next` link
//! (with its marker naming the same item) and the same error text.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use std::collections::BTreeMap;

use metal_sim::ironic::conductor::Timings;
use serde_json::{Value, json};

/// Requests whose answers differ on purpose (docs/ironic-differences.md, "Paging").
const KNOWN_DIFFERENCES: [&str; 1] = [
    // Real Ironic answers 500 (an SQLite syntax error): `node_uuid` is no port column.
    "GET /v1/ports?sort_key=node_uuid",
];

/// One server: its base URL and each created item's UUID by label (node name or port MAC).
struct Server {
    http: reqwest::Client,
    base: String,
    labels: BTreeMap<String, String>,
}

impl Server {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("X-OpenStack-Ironic-API-Version", "1.89");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates three nodes and two ports (created out of name and address order).
    async fn populate(&mut self) {
        for name in ["n-b", "n-c", "n-a"] {
            let (code, v) = self
                .call(
                    "POST",
                    "/v1/nodes",
                    Some(json!({"name": name, "driver": "fake-hardware"})),
                )
                .await;
            assert_eq!(code, 201, "{v}");
            self.labels
                .insert(v["uuid"].as_str().unwrap().into(), name.into());
        }
        let first = self.uuid_of("n-b");
        for mac in ["52:54:00:00:00:02", "52:54:00:00:00:01"] {
            let (code, v) = self
                .call(
                    "POST",
                    "/v1/ports",
                    Some(json!({"address": mac, "node_uuid": first})),
                )
                .await;
            assert_eq!(code, 201, "{v}");
            self.labels
                .insert(v["uuid"].as_str().unwrap().into(), mac.into());
        }
    }

    fn uuid_of(&self, label: &str) -> String {
        self.labels
            .iter()
            .find(|(_, l)| l.as_str() == label)
            .map(|(u, _)| u.clone())
            .unwrap()
    }

    /// `path` with `{n-b}`-style placeholders replaced by that item's UUID.
    fn resolve(&self, path: &str) -> String {
        let mut out = path.to_string();
        for (uuid, label) in &self.labels {
            out = out.replace(&format!("{{{label}}}"), uuid);
        }
        out
    }

    /// What a client sees, with this server's address and UUIDs replaced by labels.
    fn describe(&self, code: u16, v: &Value) -> String {
        let items: Vec<String> = v
            .as_object()
            .and_then(|o| o.iter().find_map(|(_, x)| x.as_array()))
            .map(|a| {
                a.iter()
                    .map(|i| {
                        let label = i["uuid"]
                            .as_str()
                            .and_then(|u| self.labels.get(u))
                            .cloned()
                            .or_else(|| i["name"].as_str().map(str::to_string))
                            .unwrap_or_else(|| "?".into());
                        let mut keys: Vec<&String> = i.as_object().unwrap().keys().collect();
                        keys.sort();
                        format!("{label}{keys:?}")
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut next = v["next"]
            .as_str()
            .unwrap_or("")
            .replace(&self.base, "<base>");
        for (uuid, label) in &self.labels {
            next = next.replace(uuid, label);
        }
        let mut error = v["error_message"].as_str().unwrap_or("").to_string();
        for (uuid, label) in &self.labels {
            error = error.replace(uuid, label);
        }
        format!("{code} items={items:?} next={next} error={error}")
    }
}

const REQUESTS: [&str; 40] = [
    "/v1/nodes",
    "/v1/nodes?limit=2",
    "/v1/nodes?limit=2&marker={n-c}",
    "/v1/nodes?limit=2&fields=name",
    "/v1/nodes?limit=2&fields=name,uuid&sort_key=name",
    "/v1/nodes?limit=1&sort_key=name&sort_dir=desc",
    "/v1/nodes?limit=2&sort_key=name&marker={n-a}",
    "/v1/nodes?limit=2&marker={n-c}&sort_dir=desc",
    "/v1/nodes/detail?limit=2",
    "/v1/nodes/detail?limit=2&sort_key=provision_state&sort_dir=desc",
    "/v1/nodes?detail=true&limit=1",
    "/v1/nodes?detail=false&limit=1",
    "/v1/nodes?limit=5000",
    "/v1/nodes?limit=3",
    "/v1/nodes?sort_dir=desc",
    "/v1/nodes?sort_key=created_at&sort_dir=desc&limit=2",
    "/v1/nodes?limit=2&provision_state=enroll",
    "/v1/nodes?maintenance=false&limit=1",
    "/v1/nodes?maintenance=true&limit=1",
    "/v1/nodes?associated=false&limit=1",
    "/v1/nodes?instance_uuid=00000000-0000-0000-0000-000000000001&limit=1",
    "/v1/nodes?sort_key=",
    "/v1/nodes?limit=x",
    "/v1/nodes?limit=",
    "/v1/nodes?limit=0",
    "/v1/nodes?limit=-1",
    "/v1/nodes?sort_dir=up",
    "/v1/nodes?sort_dir=",
    "/v1/nodes?sort_key=bogus",
    "/v1/nodes?sort_key=driver_info",
    "/v1/nodes?marker=00000000-0000-0000-0000-000000000000",
    "/v1/nodes?limit=1&sort_key=driver_info&marker=00000000-0000-0000-0000-000000000000",
    "/v1/nodes?marker=n-a",
    "/v1/nodes?marker=",
    "/v1/ports?limit=1",
    "/v1/ports/detail?limit=1&sort_key=address",
    "/v1/ports?sort_key=extra",
    "/v1/ports?sort_key=bogus&marker=00000000-0000-0000-0000-000000000000",
    "/v1/ports?address=52:54:00:00:00:01&limit=1",
    "/v1/ports?sort_key=node_uuid",
];

#[tokio::test(flavor = "multi_thread")]
async fn mock_and_real_ironic_page_and_sort_listings_alike() {
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let mut servers = [real.url().to_string(), mock].map(|base| Server {
        http: reqwest::Client::new(),
        base,
        labels: BTreeMap::new(),
    });
    for s in &mut servers {
        s.populate().await;
    }
    let mut differences = Vec::new();
    for path in REQUESTS
        .iter()
        .chain(["/v1/nodes/{n-b}/ports?limit=1"].iter())
    {
        let mut seen = Vec::new();
        for s in &servers {
            let (code, v) = s.call("GET", &s.resolve(path), None).await;
            seen.push(s.describe(code, &v));
        }
        let line = format!("GET {path}");
        println!("{line}\n  real: {}\n  mock: {}", seen[0], seen[1]);
        if seen[0] != seen[1] && !KNOWN_DIFFERENCES.contains(&line.as_str()) {
            differences.push(format!("{line}\n  real: {}\n  mock: {}", seen[0], seen[1]));
        }
    }
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the mock pages differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
