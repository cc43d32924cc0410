//! BMC drivers: perform the conductor's calls over the wire (Redfish with reqwest).
//!
//! Error texts follow sushy's shape so a BMC fault reads in `last_error` the way real Ironic shows it.

use super::conductor::{BmcOp, BootDevice, CallResult, DriverCall};
use super::model::PowerState;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// reqwest refused the TLS configuration.
    #[error("building the BMC HTTP client failed")]
    Client(#[source] reqwest::Error),
}

/// Where a Redfish BMC lives and how to log in.
#[derive(Debug, Clone, PartialEq)]
pub struct RedfishTarget {
    /// `http://host:port` (no trailing slash).
    pub address: String,
    /// `/redfish/v1/Systems/<id>` if given.
    pub system_id: Option<String>,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
}

impl RedfishTarget {
    /// Reads `redfish_*` keys from a node's driver_info.
    pub fn from_driver_info(uuid: &str, info: &Map<String, Value>) -> Result<Self, String> {
        let get = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(mut address) = get("redfish_address") else {
            return Err(format!(
                "Missing the following Redfish properties in node {uuid} driver_info: redfish_address"
            ));
        };
        if !address.contains("://") {
            address = format!("https://{address}");
        }
        Ok(Self {
            address: address.trim_end_matches('/').to_string(),
            system_id: get("redfish_system_id"),
            username: get("redfish_username"),
            password: get("redfish_password"),
        })
    }
}

/// Performs BMC calls; one shared HTTP client with bounded timeouts.
#[derive(Debug, Clone)]
pub struct Drivers {
    http: reqwest::Client,
}

impl Drivers {
    /// Builds the HTTP client (ring-backed rustls, no system proxy, 10 s timeout per request).
    pub fn new() -> Result<Self, DriverError> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3));
        if let Ok(tls) = tls {
            builder = builder.tls_backend_preconfigured(tls);
        }
        Ok(Self {
            http: builder.build().map_err(DriverError::Client)?,
        })
    }

    /// Performs one call; the error string is what lands in `last_error`.
    pub async fn perform(&self, call: &DriverCall) -> Result<CallResult, String> {
        match call.driver.as_str() {
            "redfish" => self.redfish(call).await,
            other => Err(format!(
                "Driver {other} has no wire implementation in the mock"
            )),
        }
    }

    async fn redfish(&self, call: &DriverCall) -> Result<CallResult, String> {
        let target = RedfishTarget::from_driver_info(&call.node.to_string(), &call.driver_info)?;
        let system = self.system_path(&target).await?;
        let url = format!("{}{}", target.address, system);
        match call.op {
            BmcOp::GetPower => {
                let doc = self.send(&target, reqwest::Method::GET, &url, None).await?;
                match doc.get("PowerState").and_then(Value::as_str) {
                    Some("On" | "PoweringOff") => Ok(CallResult::Power(PowerState::On)),
                    Some("Off" | "PoweringOn") => Ok(CallResult::Power(PowerState::Off)),
                    other => Err(format!(
                        "Redfish system {system} reported an unknown power state {other:?}"
                    )),
                }
            }
            BmcOp::GetSystem => Ok(CallResult::System(
                self.send(&target, reqwest::Method::GET, &url, None).await?,
            )),
            BmcOp::SetPower(p) => {
                let reset = match p {
                    PowerState::On => "On",
                    PowerState::Off => "ForceOff",
                    PowerState::SoftOff => "GracefulShutdown",
                    PowerState::Rebooting => "ForceRestart",
                    PowerState::SoftRebooting => "GracefulRestart",
                };
                let action = format!("{url}/Actions/ComputerSystem.Reset");
                self.send(
                    &target,
                    reqwest::Method::POST,
                    &action,
                    Some(json!({"ResetType": reset})),
                )
                .await?;
                Ok(CallResult::Done)
            }
            BmcOp::SetBootDevice(dev) => {
                let (t, enabled) = match dev {
                    BootDevice::Pxe => ("Pxe", "Once"),
                    BootDevice::Disk => ("Hdd", "Continuous"),
                };
                let body = json!({"Boot": {"BootSourceOverrideTarget": t, "BootSourceOverrideEnabled": enabled}});
                self.send(&target, reqwest::Method::PATCH, &url, Some(body))
                    .await?;
                Ok(CallResult::Done)
            }
        }
    }

    async fn system_path(&self, target: &RedfishTarget) -> Result<String, String> {
        if let Some(id) = &target.system_id {
            return Ok(id.clone());
        }
        let url = format!("{}/redfish/v1/Systems", target.address);
        let doc = self.send(target, reqwest::Method::GET, &url, None).await?;
        let members = doc
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match members.as_slice() {
            [one] => one
                .get("@odata.id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "Redfish system collection member has no @odata.id".to_string()),
            _ => Err(format!(
                "Redfish system collection at {url} has {} members; set redfish_system_id",
                members.len()
            )),
        }
    }

    async fn send(
        &self,
        target: &RedfishTarget,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self.http.request(method.clone(), url);
        if let Some(u) = &target.username {
            req = req.basic_auth(u, target.password.as_deref());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                format!("Unable to connect to {url}. Error: {e}")
            } else {
                format!("HTTP {method} {url} failed. Error: {e}")
            }
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            return Err(format!(
                "HTTP {method} {url} returned code {}. {detail}",
                status.as_u16()
            ));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("HTTP {method} {url} returned invalid JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_redfish_address_is_named_in_the_error() {
        let err = RedfishTarget::from_driver_info("u1", &Map::new()).expect_err("must fail");
        assert!(err.contains("redfish_address"), "{err}");
    }

    #[test]
    fn a_bare_host_defaults_to_https() {
        let mut info = Map::new();
        info.insert("redfish_address".into(), json!("127.0.0.1:8000/"));
        let t = RedfishTarget::from_driver_info("u1", &info).expect("parse");
        assert_eq!(t.address, "https://127.0.0.1:8000");
    }
}
