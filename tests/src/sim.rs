//! HTTP clients for the simulator's control API (the machines' ground truth) and the mock Ironic's
//! request journal.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

/// A plain-HTTP client (loopback only), with the ring crypto provider so HTTPS would work too.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        .build()
        .context("building the HTTP client")
}

/// One host as the control API reports it (the fields the suite reads).
#[derive(Debug, Clone, Deserialize)]
pub struct HostTruth {
    /// Host name.
    pub name: String,
    /// `redfish`, `redfish-virtualmedia` or `ipmi`.
    pub protocol: String,
    /// The exact `spec.bmc.address`.
    pub address: String,
    /// MAC of the boot NIC.
    pub boot_mac: Option<String>,
    /// Labels from the fleet file.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Hardware profile.
    pub profile: String,
    /// The machine.
    pub machine: Machine,
}

/// The machine's state.
#[derive(Debug, Clone, Deserialize)]
pub struct Machine {
    /// `Off`, `PoweringOn`, `On` or `PoweringOff`.
    pub power: String,
    /// Simulated nanoseconds of the last power change.
    pub power_changed_at: u64,
    /// The last boot, if any.
    pub last_boot: Option<BootRecord>,
}

/// A boot that happened.
#[derive(Debug, Clone, Deserialize)]
pub struct BootRecord {
    /// Which boot of the machine it was (1 = first).
    pub count: u64,
    /// What it booted.
    pub outcome: Value,
}

impl Machine {
    /// How many times the machine has booted.
    pub fn boots(&self) -> u64 {
        self.last_boot.as_ref().map_or(0, |b| b.count)
    }
}

/// The control API of `metal-sim serve`.
#[derive(Debug, Clone)]
pub struct SimControl {
    base: String,
    http: reqwest::Client,
}

impl SimControl {
    /// The control API at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        SimControl {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Every host.
    pub async fn hosts(&self) -> anyhow::Result<Vec<HostTruth>> {
        get_json(&self.http, &format!("{}/hosts", self.base)).await
    }

    /// One host.
    pub async fn host(&self, name: &str) -> anyhow::Result<HostTruth> {
        get_json(&self.http, &format!("{}/hosts/{name}", self.base)).await
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// The mock Ironic, seen from the outside.
#[derive(Debug, Clone)]
pub struct IronicApi {
    base: String,
    http: reqwest::Client,
}

/// One request the mock Ironic answered, as its journal (`GET /_sim/requests`) lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    /// When the request arrived (the mock's clock).
    pub time: chrono::DateTime<chrono::Utc>,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// `target` of a `states/provision` request.
    pub target: Option<String>,
    /// Status code answered.
    pub status: u16,
}

impl Request {
    /// A provision-state change (`PUT /v1/nodes/{node}/states/provision`) asking for `target`.
    pub fn is_provision_target(&self, target: &str) -> bool {
        self.method.eq_ignore_ascii_case("PUT")
            && self.path.ends_with("/states/provision")
            && self.target.as_deref() == Some(target)
    }

    /// Addressed to the node `node` (its UUID or name is a path segment).
    pub fn is_for_node(&self, node: &str) -> bool {
        !node.is_empty() && self.path.split('/').any(|segment| segment == node)
    }
}

#[derive(Debug, Deserialize)]
struct Journal {
    dropped: u64,
    requests: Vec<Request>,
}

impl IronicApi {
    /// The mock Ironic at `base`.
    pub fn new(base: &str, http: reqwest::Client) -> Self {
        IronicApi {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Every request answered so far, oldest first. Fails if the journal has dropped entries (a
    /// count made from it would be wrong).
    pub async fn requests(&self) -> anyhow::Result<Vec<Request>> {
        let journal = self.journal().await?;
        if journal.dropped > 0 {
            bail!(
                "the mock Ironic's journal dropped {} requests; counts from it would be wrong",
                journal.dropped
            );
        }
        Ok(journal.requests)
    }

    /// The requests that arrived at or after `since`, oldest first. Fails if the journal has dropped
    /// entries from that period (an Ironic shared by many tests, as in kind, may have dropped older ones).
    pub async fn requests_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Vec<Request>> {
        let journal = self.journal().await?;
        if journal.dropped > 0 && journal.requests.first().is_none_or(|r| r.time > since) {
            bail!(
                "the mock Ironic's journal dropped {} requests, some after {since}; counts from it would be wrong",
                journal.dropped
            );
        }
        Ok(journal
            .requests
            .into_iter()
            .filter(|r| r.time >= since)
            .collect())
    }

    async fn journal(&self) -> anyhow::Result<Journal> {
        get_json(&self.http, &format!("{}/_sim/requests", self.base))
            .await
            .context("reading the mock Ironic's request journal (GET /_sim/requests)")
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {url}: unexpected body {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_request_is_recognised_by_method_path_and_target() {
        let journal: Journal = serde_json::from_value(serde_json::json!({
            "note": "x", "capacity": 4096, "dropped": 0,
            "requests": [
                {"time": "2026-01-01T00:00:00Z", "method": "PUT", "path": "/v1/nodes/x/states/provision", "target": "active", "status": 202},
                {"time": "2026-01-01T00:00:00Z", "method": "PUT", "path": "/v1/nodes/x/states/provision", "target": "deleted", "status": 202},
                {"time": "2026-01-01T00:00:00Z", "method": "GET", "path": "/v1/nodes/x", "target": null, "status": 200}
            ]
        }))
        .unwrap();
        let deploys: Vec<bool> = journal
            .requests
            .iter()
            .map(|r| r.is_provision_target("active"))
            .collect();
        assert_eq!(deploys, [true, false, false]);
        assert!(journal.requests.iter().all(|r| r.is_for_node("x")));
        assert!(!journal.requests[0].is_for_node("nodes") || journal.requests[0].is_for_node("x"));
        assert!(!journal.requests[0].is_for_node("y") && !journal.requests[0].is_for_node(""));
    }
}
