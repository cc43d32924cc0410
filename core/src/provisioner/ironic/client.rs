//! A small typed client for the Ironic REST API over a [`Transport`]: the microversion
//! negotiated once and cached, every call counted, Ironic's error bodies decoded.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::lock::Mutex;
use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::node::{Node, PatchOp, Port, PowerRequest, ProvisionRequest, Validation};
use super::transport::{Request, Response, Transport};
use crate::api::firmware::{AttributeType, SettingSchema};
use crate::firmware::BiosSetting;
use crate::provisioner::ProvisionerError;

/// The oldest microversion we can work with (configdrive dicts, inventory, deploy steps, ...).
pub const MIN_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 89,
};
/// The newest microversion whose semantics we know; never ask for more.
pub const MAX_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 110,
};
/// The header Ironic reads the microversion from.
pub const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";

/// An Ironic API microversion `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    /// Parses `"1.89"`; None for anything else.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The Ironic REST client. Cheap to share (`Arc`); one per operator process.
pub struct IronicClient {
    transport: Box<dyn Transport>,
    /// The negotiated microversion, once known.
    version: OnceLock<ApiVersion>,
    /// Held by the one caller negotiating; the others wait for it, then read `version` (or
    /// negotiate themselves when it failed). An executor-free lock: no runtime is needed.
    negotiation: Mutex<()>,
    calls: AtomicU64,
}

impl std::fmt::Debug for IronicClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IronicClient")
            .field("transport", &self.transport)
            .field("version", &self.version.get())
            .finish()
    }
}

/// `GET /v1/nodes/{id}/bios`: the list under `bios` (absent reads as empty).
#[derive(serde::Deserialize)]
struct BiosList {
    #[serde(default)]
    bios: Vec<BiosEntry>,
}

/// One BIOS setting with the 1.74 registry fields; absent or null fields read as unknown.
#[derive(serde::Deserialize)]
struct BiosEntry {
    name: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    attribute_type: Option<String>,
    #[serde(default)]
    allowable_values: Option<Vec<String>>,
    #[serde(default)]
    lower_bound: Option<i64>,
    #[serde(default)]
    upper_bound: Option<i64>,
    #[serde(default)]
    min_length: Option<i64>,
    #[serde(default)]
    max_length: Option<i64>,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(default)]
    unique: Option<bool>,
}

impl BiosEntry {
    fn into_setting(self) -> BiosSetting {
        BiosSetting {
            name: self.name,
            value: self.value.unwrap_or_default(),
            schema: SettingSchema {
                allowable_values: self.allowable_values.unwrap_or_default(),
                attribute_type: self
                    .attribute_type
                    .as_deref()
                    .and_then(AttributeType::parse),
                lower_bound: self.lower_bound,
                max_length: self.max_length,
                min_length: self.min_length,
                read_only: self.read_only,
                unique: self.unique,
                upper_bound: self.upper_bound,
            },
        }
    }
}

/// `GET /v1/ports`: the list under `ports` (absent reads as empty).
#[derive(serde::Deserialize)]
struct PortList {
    #[serde(default)]
    ports: Vec<Port>,
}

/// What a response body may be read as.
enum Expect {
    Json,
    Nothing,
}

impl IronicClient {
    /// The client over a transport: HTTP(S) in the operator (`metal_operator::ironic_http`),
    /// in-process in the simulator's engine mode. Makes no request.
    pub fn over(transport: impl Transport + 'static) -> IronicClient {
        IronicClient {
            transport: Box::new(transport),
            version: OnceLock::new(),
            negotiation: Mutex::new(()),
            calls: AtomicU64::new(0),
        }
    }

    /// Every HTTP request this client has sent, version discovery included.
    pub fn api_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The negotiated microversion: discovered with `GET /` on first use, then cached for the
    /// life of the client (never per reconcile). Concurrent first callers share one discovery;
    /// a discovery that failed is tried again by the next caller.
    pub async fn api_version(&self) -> Result<ApiVersion, ProvisionerError> {
        if let Some(version) = self.version.get() {
            return Ok(*version);
        }
        let _turn = self.negotiation.lock().await;
        if let Some(version) = self.version.get() {
            return Ok(*version);
        }
        let version = self.negotiate().await?;
        Ok(*self.version.get_or_init(|| version))
    }

    /// Waits `duration` on the transport's clock before polling again; a transport that cannot
    /// wait (engine mode) is a [`ProvisionerError::Protocol`] for `operation`, not a panic.
    pub async fn pause(
        &self,
        operation: &'static str,
        duration: Duration,
    ) -> Result<(), ProvisionerError> {
        self.transport
            .pause(duration)
            .await
            .map_err(|message| ProvisionerError::Protocol { operation, message })
    }

    async fn negotiate(&self) -> Result<ApiVersion, ProvisionerError> {
        const OP: &str = "version discovery";
        let root: Value = self
            .send::<(), _>(OP, Method::GET, "/", None, None, Expect::Json)
            .await?
            .unwrap_or(Value::Null);
        let entry = root
            .get("default_version")
            .filter(|v| v.is_object())
            .or_else(|| {
                root.get("versions")
                    .and_then(Value::as_array)
                    .and_then(|vs| vs.iter().find(|v| v["id"] == "v1"))
            })
            .ok_or_else(|| ProvisionerError::Protocol {
                operation: OP,
                message: "no v1 entry in the version document".to_string(),
            })?;
        let read = |key: &str| {
            entry
                .get(key)
                .and_then(Value::as_str)
                .and_then(ApiVersion::parse)
        };
        let max = read("version").ok_or_else(|| ProvisionerError::Protocol {
            operation: OP,
            message: "version document has no maximum version".to_string(),
        })?;
        let min = read("min_version").unwrap_or(ApiVersion { major: 1, minor: 1 });
        if max < MIN_VERSION {
            return Err(ProvisionerError::VersionTooOld {
                found: max.to_string(),
                required: MIN_VERSION.to_string(),
            });
        }
        let chosen = max.min(MAX_VERSION);
        if chosen < min {
            return Err(ProvisionerError::Protocol {
                operation: OP,
                message: format!(
                    "server minimum version {min} is newer than our newest {MAX_VERSION}"
                ),
            });
        }
        tracing::info!(version = %chosen, server_max = %max, "ironic API version negotiated");
        Ok(chosen)
    }

    /// `GET /v1/drivers`: the hardware types some conductor serves. Empty means no conductor is
    /// up yet (upstream treats that as not ready).
    pub async fn drivers(&self) -> Result<Vec<String>, ProvisionerError> {
        const OP: &str = "list drivers";
        let v: Value = self
            .call_json(OP, Method::GET, "/v1/drivers", None::<&()>)
            .await?;
        let names = v
            .get("drivers")
            .and_then(Value::as_array)
            .ok_or_else(|| ProvisionerError::Protocol {
                operation: OP,
                message: "no drivers list in the response".to_string(),
            })?
            .iter()
            .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        Ok(names)
    }

    /// `GET /v1/nodes/{uuid or name}`; None when there is no such node.
    pub async fn get_node(&self, ident: &str) -> Result<Option<Node>, ProvisionerError> {
        let path = format!("/v1/nodes/{}", path_segment(ident));
        self.call_optional("get node", Method::GET, &path).await
    }

    /// `GET /v1/ports?address=<mac>`: the port with that MAC, if any.
    pub async fn find_port(&self, mac: &str) -> Result<Option<Port>, ProvisionerError> {
        const OP: &str = "find port";
        // The list view omits node_uuid unless asked for.
        let path = format!(
            "/v1/ports?address={}&fields=uuid,address,node_uuid",
            query_value(&mac.to_ascii_lowercase())
        );
        let list: Option<PortList> = self.call_json(OP, Method::GET, &path, None::<&()>).await?;
        Ok(list.and_then(|l| l.ports.into_iter().next()))
    }

    /// `POST /v1/nodes`.
    pub async fn create_node(&self, body: &Value) -> Result<Node, ProvisionerError> {
        self.call_json("create node", Method::POST, "/v1/nodes", Some(body))
            .await
    }

    /// `PATCH /v1/nodes/{id}` with a JSON patch.
    pub async fn patch_node(&self, id: &str, ops: &[PatchOp]) -> Result<Node, ProvisionerError> {
        let path = format!("/v1/nodes/{}", path_segment(id));
        self.call_json("patch node", Method::PATCH, &path, Some(&ops))
            .await
    }

    /// `DELETE /v1/nodes/{id}`; a node already gone is not an error.
    pub async fn delete_node(&self, id: &str) -> Result<(), ProvisionerError> {
        let path = format!("/v1/nodes/{}", path_segment(id));
        match self
            .call_empty("delete node", Method::DELETE, &path, None::<&()>)
            .await
        {
            Err(ProvisionerError::Rejected { status: 404, .. }) => Ok(()),
            other => other,
        }
    }

    /// `POST /v1/ports` for a node's MAC.
    pub async fn create_port(
        &self,
        node_uuid: &str,
        mac: &str,
        pxe_enabled: bool,
    ) -> Result<Port, ProvisionerError> {
        let body = serde_json::json!({
            "address": mac.to_ascii_lowercase(),
            "node_uuid": node_uuid,
            "pxe_enabled": pxe_enabled,
        });
        self.call_json("create port", Method::POST, "/v1/ports", Some(&body))
            .await
    }

    /// `PUT /v1/nodes/{id}/states/provision`.
    pub async fn set_provision_state(
        &self,
        id: &str,
        request: &ProvisionRequest,
    ) -> Result<(), ProvisionerError> {
        let path = format!("/v1/nodes/{}/states/provision", path_segment(id));
        self.call_empty("provision", Method::PUT, &path, Some(request))
            .await
    }

    /// `PUT /v1/nodes/{id}/states/raid`: the node's target RAID configuration.
    pub async fn set_raid_config(
        &self,
        id: &str,
        logical_disks: &[Value],
    ) -> Result<(), ProvisionerError> {
        let path = format!("/v1/nodes/{}/states/raid", path_segment(id));
        let body = serde_json::json!({ "logical_disks": logical_disks });
        self.call_empty("set RAID configuration", Method::PUT, &path, Some(&body))
            .await
    }

    /// `PUT /v1/nodes/{id}/states/power`.
    pub async fn set_power_state(
        &self,
        id: &str,
        request: &PowerRequest,
    ) -> Result<(), ProvisionerError> {
        let path = format!("/v1/nodes/{}/states/power", path_segment(id));
        self.call_empty("power", Method::PUT, &path, Some(request))
            .await
    }

    /// `GET /v1/nodes/{id}/validate`.
    pub async fn validate(&self, id: &str) -> Result<Validation, ProvisionerError> {
        let path = format!("/v1/nodes/{}/validate", path_segment(id));
        self.call_json("validate", Method::GET, &path, None::<&()>)
            .await
    }

    /// `PUT /v1/nodes/{id}/maintenance` with an optional reason.
    pub async fn set_maintenance(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> Result<(), ProvisionerError> {
        let path = format!("/v1/nodes/{}/maintenance", path_segment(id));
        let body = match reason {
            Some(r) => serde_json::json!({ "reason": r }),
            None => serde_json::json!({}),
        };
        self.call_empty("set maintenance", Method::PUT, &path, Some(&body))
            .await
    }

    /// `DELETE /v1/nodes/{id}/maintenance`.
    pub async fn clear_maintenance(&self, id: &str) -> Result<(), ProvisionerError> {
        let path = format!("/v1/nodes/{}/maintenance", path_segment(id));
        self.call_empty("clear maintenance", Method::DELETE, &path, None::<&()>)
            .await
    }

    /// `GET /v1/nodes/{id}/bios?detail=True`: every BIOS setting with its registry entry
    /// (microversion 1.74).
    pub async fn bios_settings(&self, id: &str) -> Result<Vec<BiosSetting>, ProvisionerError> {
        let path = format!("/v1/nodes/{}/bios?detail=True", path_segment(id));
        let list: BiosList = self
            .call_json("bios settings", Method::GET, &path, None::<&()>)
            .await?;
        Ok(list.bios.into_iter().map(BiosEntry::into_setting).collect())
    }

    /// `GET /v1/nodes/{id}/inventory`: `{inventory, plugin_data}`, None before inspection.
    pub async fn inventory(&self, id: &str) -> Result<Option<Value>, ProvisionerError> {
        let path = format!("/v1/nodes/{}/inventory", path_segment(id));
        self.call_optional("inventory", Method::GET, &path).await
    }

    async fn call_optional<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
    ) -> Result<Option<T>, ProvisionerError> {
        match self.call_json(operation, method, path, None::<&()>).await {
            Ok(v) => Ok(Some(v)),
            Err(ProvisionerError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One call whose answer is decoded straight into `T` (no generic JSON tree in between);
    /// an empty answer decodes as JSON `null`.
    async fn call_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ProvisionerError> {
        let version = self.api_version().await?;
        match self
            .send(operation, method, path, body, Some(version), Expect::Json)
            .await?
        {
            Some(v) => Ok(v),
            None => decode(operation, Value::Null),
        }
    }

    async fn call_empty<B: Serialize + ?Sized>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ProvisionerError> {
        let version = self.api_version().await?;
        self.send::<B, Value>(
            operation,
            method,
            path,
            body,
            Some(version),
            Expect::Nothing,
        )
        .await
        .map(|_| ())
    }

    async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
        version: Option<ApiVersion>,
        expect: Expect,
    ) -> Result<Option<T>, ProvisionerError> {
        let body =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|e| ProvisionerError::Protocol {
                    operation,
                    message: format!("cannot encode the request body: {e}"),
                })?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%method, path, operation, "ironic request");
        let request = Request {
            method,
            path: path.to_owned(),
            version,
            body,
        };
        let Response {
            status,
            body: bytes,
        } = self
            .transport
            .send(request)
            .await
            .map_err(|message| ProvisionerError::Unreachable { operation, message })?;
        let status = StatusCode::from_u16(status).map_err(|_| ProvisionerError::Protocol {
            operation,
            message: format!("invalid HTTP status {status}"),
        })?;
        if !status.is_success() {
            return Err(ProvisionerError::Rejected {
                operation,
                status: status.as_u16(),
                message: decode_error_body(status, &bytes),
            });
        }
        match expect {
            Expect::Nothing => Ok(None),
            Expect::Json if bytes.is_empty() || status == StatusCode::NO_CONTENT => Ok(None),
            Expect::Json => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| ProvisionerError::Protocol {
                        operation,
                        message: e.to_string(),
                    })
            }
        }
    }
}

fn decode<T: DeserializeOwned>(operation: &'static str, v: Value) -> Result<T, ProvisionerError> {
    serde_json::from_value(v).map_err(|e| ProvisionerError::Protocol {
        operation,
        message: e.to_string(),
    })
}

/// Turns Ironic's error body into a readable message. Ironic double-encodes:
/// `{"error_message": "{\"faultcode\": ..., \"faultstring\": \"...\", \"debuginfo\": null}"}`;
/// some paths send the inner object directly, proxies send plain text.
pub fn decode_error_body(status: StatusCode, body: &[u8]) -> String {
    let fallback = || {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            let short: String = text.chars().take(300).collect();
            format!("HTTP {status}: {short}")
        }
    };
    let Ok(outer) = serde_json::from_slice::<Value>(body) else {
        return fallback();
    };
    let inner = match outer.get("error_message") {
        Some(Value::String(s)) => {
            serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.clone()))
        }
        Some(other) => other.clone(),
        None => outer.clone(),
    };
    let fault = match &inner {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => inner
            .get("faultstring")
            .or_else(|| inner.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    };
    fault
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .unwrap_or_else(fallback)
}

/// True for Ironic's `NodeLocked` conflict (409 "Node ... is locked by host ..."): retry soon.
pub fn is_node_locked(error: &ProvisionerError) -> bool {
    matches!(error, ProvisionerError::Rejected { status: 409, message, .. }
        if message.contains("is locked by") || message.contains("NodeLocked"))
}

/// Percent-encodes a path segment (node names contain `~`, which is unreserved and kept).
fn path_segment(s: &str) -> String {
    encode(s, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    })
}

fn query_value(s: &str) -> String {
    encode(s, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':')
    })
}

fn encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
