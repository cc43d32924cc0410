//! One request sequence replayed against real Ironic and the mock, answer by answer, as the
//! chassis comparison does it: status, `Location`, and the body once base URLs, generated UUIDs
//! (replaced by the label of what they name) and times (set or not) are made comparable. Used by
//! the per-resource comparisons (traits, port groups, volume, deploy templates).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// A request of a sequence: method, path and body (`{label}` in either stands for the UUID
/// created under that label).
pub type Step = (&'static str, String, Option<Value>);

/// One server of the pair.
pub struct Server {
    http: reqwest::Client,
    base: String,
    labels: BTreeMap<String, String>,
    version: String,
}

/// The fields a created document is labelled by, first present wins.
const LABEL_FIELDS: [&str; 5] = [
    "name",
    "description",
    "connector_id",
    "volume_id",
    "address",
];

impl Server {
    /// A server at `base`, asked at microversion `version`.
    pub fn new(base: &str, version: &str) -> Server {
        Server {
            http: reqwest::Client::new(),
            base: base.to_string(),
            labels: BTreeMap::new(),
            version: version.to_string(),
        }
    }

    /// Sends one request (at `version` when given, else the server's) and writes its answer as
    /// a comparable line.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        version: Option<&str>,
    ) -> String {
        let path = self.resolve(path);
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header(
                "X-OpenStack-Ironic-API-Version",
                version.unwrap_or(&self.version),
            );
        if let Some(b) = body {
            // `{label}` in the body stands for a UUID too.
            let text = self.resolve(&serde_json::to_string(&b).unwrap());
            req = req.header("Content-Type", "application/json").body(text);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.expect("body");
        let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 201 {
            let label = LABEL_FIELDS
                .iter()
                .find_map(|f| v[*f].as_str())
                .unwrap_or("unlabelled")
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

    /// Waits (bounded: 30 s) until `GET path` answers a document whose `key` is `want`.
    pub async fn settle(&mut self, path: &str, key: &str, want: Value) {
        let url = format!("{}{}", self.base, self.resolve(path));
        let http = self.http.clone();
        let version = self.version.clone();
        metal_testkit::wait::Wait::new(
            format!("{key} of {url} to be {want}"),
            std::time::Duration::from_secs(30),
        )
        .every(std::time::Duration::from_millis(50))
        .until_async(|| {
            let req = http
                .get(&url)
                .header("X-OpenStack-Ironic-API-Version", &version);
            let want = want.clone();
            async move {
                let seen: Value = match req.send().await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(e) => Value::String(e.to_string()),
                };
                metal_testkit::wait::Check::when(seen[key] == want, || seen[key].to_string())
            }
        })
        .await
        .expect("the server to settle");
    }

    fn resolve(&self, path: &str) -> String {
        let mut out = path.to_string();
        for (uuid, label) in &self.labels {
            out = out.replace(&format!("{{{label}}}"), uuid);
        }
        out
    }
}

/// Times differ between servers: only whether one is set is compared. So does a node's
/// `conductor` (the host name each is configured with).
pub fn blank_times(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if (k.ends_with("_at") || k == "provision_updated_at") && !x.is_null() {
                    *x = json!("<time>");
                } else if k == "conductor" && x.is_string() {
                    *x = json!("<conductor>");
                } else {
                    blank_times(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(blank_times),
        _ => {}
    }
}

/// Node documents are long and their other fields are compared by `ironic_compare`: keep the
/// status, the name and the fields `keep` names.
pub fn node_keys(line: &str, keep: &[&str]) -> String {
    let (head, body) = line.split_once(' ').unwrap_or((line, ""));
    let body = body.split_once(' ').map_or(body, |(_, b)| b);
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if v.get("driver").is_some() {
        let mut out = format!("{head} name={}", v["name"]);
        for k in keep {
            out.push_str(&format!(" {k}={}", v[*k]));
        }
        out
    } else {
        line.to_string()
    }
}

/// Replays `steps` (each optionally at its own microversion) on both servers; the lines that
/// differ, each with both answers. Every step's answers are printed.
pub async fn replay(
    servers: &mut [Server; 2],
    steps: Vec<(Step, Option<&str>)>,
    shape: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut differences = Vec::new();
    for ((method, path, body), version) in steps {
        let mut seen = Vec::new();
        for s in servers.iter_mut() {
            seen.push(shape(&s.call(method, &path, body.clone(), version).await));
        }
        let line = match version {
            Some(v) => format!("{method} {path} @{v}"),
            None => format!("{method} {path}"),
        };
        println!("{line}\n  real: {}\n  mock: {}", seen[0], seen[1]);
        if seen[0] != seen[1] {
            differences.push(format!("{line}\n  real: {}\n  mock: {}", seen[0], seen[1]));
        }
    }
    differences
}
