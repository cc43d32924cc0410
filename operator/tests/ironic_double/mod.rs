//! An in-test Ironic HTTP double on 127.0.0.1 that records every request and moves nodes
//! through provision states at once. Errors use Ironic's double-encoded body.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the double saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/v1/ports?address=aa:bb:cc:dd:ee:ff`.
    pub path: String,
    pub version: Option<String>,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

impl Recorded {
    /// `"PUT /v1/nodes/x/states/provision"`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Default)]
pub struct DoubleState {
    pub nodes: BTreeMap<String, Value>,
    pub ports: Vec<Value>,
    pub requests: Vec<Recorded>,
    pub min_version: String,
    pub max_version: String,
    /// Answer this many following node-changing requests with 409 NodeLocked.
    pub locked_for: u32,
    /// The inventory returned after inspection.
    pub inventory: Option<Value>,
    /// `(interface, reason)` that validation reports as failed.
    pub failing_validation: Option<(String, String)>,
    /// Answer this many following port creations with 503 (an Ironic outage mid-registration).
    pub failing_port_creates: u32,
    next_id: u64,
}

#[derive(Clone)]
pub struct IronicDouble {
    pub state: Arc<Mutex<DoubleState>>,
    pub addr: SocketAddr,
}

impl IronicDouble {
    /// Starts the double on a free loopback port, advertising API 1.1 … `max_version`.
    pub async fn start(max_version: &str) -> IronicDouble {
        let state = Arc::new(Mutex::new(DoubleState {
            min_version: "1.1".into(),
            max_version: max_version.into(),
            ..DoubleState::default()
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        IronicDouble { state, addr }
    }

    /// The router alone, for serving over TLS.
    pub fn router(state: Arc<Mutex<DoubleState>>) -> Router {
        Router::new().fallback(handle).with_state(state)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::line).collect()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    pub fn node(&self, ident: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        find(&s, ident).map(|id| s.nodes[&id].clone())
    }

    /// Inserts a node directly (bypassing the API), returning its UUID.
    pub fn seed_node(&self, name: Option<&str>, provision_state: &str) -> String {
        let mut s = self.state.lock().unwrap();
        let uuid = new_uuid(&mut s);
        let node = base_node(
            &uuid,
            json!({ "name": name, "driver": "ipmi" }),
            provision_state,
        );
        s.nodes.insert(uuid.clone(), node);
        uuid
    }

    pub fn seed_port(&self, node_uuid: &str, mac: &str) {
        let mut s = self.state.lock().unwrap();
        let uuid = new_uuid(&mut s);
        s.ports.push(
            json!({ "uuid": uuid, "address": mac, "node_uuid": node_uuid, "pxe_enabled": true }),
        );
    }

    pub fn set(&self, f: impl FnOnce(&mut DoubleState)) {
        f(&mut self.state.lock().unwrap());
    }
}

fn new_uuid(s: &mut DoubleState) -> String {
    s.next_id += 1;
    format!("00000000-0000-4000-8000-{:012x}", s.next_id)
}

fn base_node(uuid: &str, body: Value, provision_state: &str) -> Value {
    let mut node = json!({
        "uuid": uuid, "name": null, "driver": null,
        "provision_state": provision_state, "target_provision_state": null,
        "power_state": null, "target_power_state": null, "last_error": null,
        "maintenance": false, "maintenance_reason": null, "reservation": null,
        "automated_clean": null, "driver_info": {}, "instance_info": {},
        "properties": {}, "extra": {},
        "boot_interface": null, "deploy_interface": "direct", "inspect_interface": null,
        "bios_interface": null, "firmware_interface": null, "management_interface": null,
        "power_interface": null, "raid_interface": null, "vendor_interface": null,
    });
    if let Some(fields) = body.as_object() {
        for (k, v) in fields {
            node[k] = v.clone();
        }
    }
    node
}

fn find(s: &DoubleState, ident: &str) -> Option<String> {
    if s.nodes.contains_key(ident) {
        return Some(ident.to_string());
    }
    s.nodes
        .iter()
        .find(|(_, n)| n["name"].as_str() == Some(ident))
        .map(|(k, _)| k.clone())
}

/// Ironic's double-encoded error body.
pub fn ironic_error(status: StatusCode, fault: &str) -> Response {
    let inner = json!({ "faultcode": "Client", "faultstring": fault, "debuginfo": null });
    let body = json!({ "error_message": inner.to_string() });
    (status, axum::Json(body)).into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// Masks secrets on read, as Ironic does.
fn masked(node: &Value) -> Value {
    let mut n = node.clone();
    if let Some(info) = n["driver_info"].as_object_mut() {
        for (k, v) in info.iter_mut() {
            if k.ends_with("password") {
                *v = json!("******");
            }
        }
    }
    n
}

async fn handle(
    State(state): State<Arc<Mutex<DoubleState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let path_q = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut s = state.lock().unwrap();
    s.requests.push(Recorded {
        method: method.to_string(),
        path: path_q.clone(),
        version: header("x-openstack-ironic-api-version"),
        authorization: header("authorization"),
        body: parsed.clone(),
    });
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let changing = method != Method::GET && segs.len() >= 3 && segs[1] == "nodes";
    if changing && s.locked_for > 0 {
        s.locked_for -= 1;
        return ironic_error(
            StatusCode::CONFLICT,
            "Node 1be26c0b-03f2-4d2e-ae87-c02d7f33c123 is locked by host conductor-1, please retry after the current operation is completed.",
        );
    }
    let body = parsed.unwrap_or(Value::Null);
    match (method.as_str(), segs.as_slice()) {
        ("GET", [""]) => {
            let v = json!({
                "name": "OpenStack Ironic API",
                "versions": [{ "id": "v1", "status": "CURRENT",
                    "version": s.max_version, "min_version": s.min_version }],
                "default_version": { "id": "v1", "status": "CURRENT",
                    "version": s.max_version, "min_version": s.min_version },
            });
            ok(v)
        }
        ("GET", ["v1", "drivers"]) => ok(json!({
            "drivers": [
                { "name": "ipmi", "hosts": ["conductor-1"] },
                { "name": "redfish", "hosts": ["conductor-1"] },
            ]
        })),
        ("POST", ["v1", "nodes"]) => {
            let uuid = new_uuid(&mut s);
            let node = base_node(&uuid, body, "enroll");
            s.nodes.insert(uuid, node.clone());
            (StatusCode::CREATED, axum::Json(masked(&node))).into_response()
        }
        ("GET", ["v1", "nodes", ident]) => match find(&s, ident) {
            Some(id) => ok(masked(&s.nodes[&id])),
            None => ironic_error(
                StatusCode::NOT_FOUND,
                &format!("Node {ident} could not be found."),
            ),
        },
        ("PATCH", ["v1", "nodes", ident]) => {
            let Some(id) = find(&s, ident) else {
                return ironic_error(
                    StatusCode::NOT_FOUND,
                    &format!("Node {ident} could not be found."),
                );
            };
            let Ok(patch) = serde_json::from_value::<json_patch::Patch>(body) else {
                return ironic_error(StatusCode::BAD_REQUEST, "Invalid patch");
            };
            let node = s.nodes.get_mut(&id).unwrap();
            if let Err(e) = json_patch::patch(node, &patch) {
                return ironic_error(StatusCode::BAD_REQUEST, &format!("Invalid patch: {e}"));
            }
            ok(masked(node))
        }
        ("DELETE", ["v1", "nodes", ident]) => match find(&s, ident) {
            Some(id) => {
                s.nodes.remove(&id);
                s.ports.retain(|p| p["node_uuid"] != json!(id));
                StatusCode::NO_CONTENT.into_response()
            }
            None => ironic_error(
                StatusCode::NOT_FOUND,
                &format!("Node {ident} could not be found."),
            ),
        },
        ("GET", ["v1", "ports"]) => {
            let wanted = uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("address=")))
                .map(|m| m.replace("%3A", ":").to_ascii_lowercase());
            let ports: Vec<Value> = s
                .ports
                .iter()
                .filter(|p| {
                    wanted
                        .as_deref()
                        .is_none_or(|w| p["address"].as_str() == Some(w))
                })
                .cloned()
                .collect();
            ok(json!({ "ports": ports }))
        }
        ("POST", ["v1", "ports"]) => {
            if s.failing_port_creates > 0 {
                s.failing_port_creates -= 1;
                return ironic_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable.",
                );
            }
            let mac = body["address"].as_str().unwrap_or_default().to_string();
            if s.ports
                .iter()
                .any(|p| p["address"].as_str() == Some(mac.as_str()))
            {
                return ironic_error(
                    StatusCode::CONFLICT,
                    &format!("A port with MAC address {mac} already exists."),
                );
            }
            let uuid = new_uuid(&mut s);
            let mut port = body.clone();
            port["uuid"] = json!(uuid);
            s.ports.push(port.clone());
            (StatusCode::CREATED, axum::Json(port)).into_response()
        }
        ("PUT", ["v1", "nodes", ident, "states", "provision"]) => {
            let Some(id) = find(&s, ident) else {
                return ironic_error(
                    StatusCode::NOT_FOUND,
                    &format!("Node {ident} could not be found."),
                );
            };
            let target = body["target"].as_str().unwrap_or_default().to_string();
            let has_inventory = s.inventory.is_some();
            let node = s.nodes.get_mut(&id).unwrap();
            let from = node["provision_state"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let to = match (from.as_str(), target.as_str()) {
                ("enroll" | "manageable", "manage") => "manageable",
                ("manageable", "inspect") => "manageable",
                ("manageable", "provide") => "available",
                ("available", "active") => "active",
                ("active" | "deploy failed", "deleted") => "available",
                ("manageable", "adopt") => "active",
                ("wait call-back", "abort") => "deploy failed",
                ("inspect wait", "abort") => "inspect failed",
                ("clean wait", "abort") => "clean failed",
                _ => {
                    return ironic_error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "The requested action \"{target}\" can not be performed on node \"{id}\" while it is in state \"{from}\"."
                        ),
                    );
                }
            };
            node["provision_state"] = json!(to);
            if target == "active" {
                node["instance_info"]["configdrive"] = body["configdrive"].clone();
            }
            if target == "inspect" && !has_inventory {
                s.inventory = Some(json!({ "inventory": {}, "plugin_data": {} }));
            }
            StatusCode::ACCEPTED.into_response()
        }
        ("PUT", ["v1", "nodes", ident, "states", "power"]) => {
            let Some(id) = find(&s, ident) else {
                return ironic_error(
                    StatusCode::NOT_FOUND,
                    &format!("Node {ident} could not be found."),
                );
            };
            let target = body["target"].as_str().unwrap_or_default();
            let power = match target {
                "power on" | "rebooting" | "soft rebooting" => "power on",
                "power off" | "soft power off" => "power off",
                other => {
                    return ironic_error(
                        StatusCode::BAD_REQUEST,
                        &format!("Invalid power target {other}"),
                    );
                }
            };
            s.nodes.get_mut(&id).unwrap()["power_state"] = json!(power);
            StatusCode::ACCEPTED.into_response()
        }
        ("GET", ["v1", "nodes", ident, "validate"]) => match find(&s, ident) {
            Some(_) => {
                let mut v = json!({
                    "boot": { "result": true, "reason": null },
                    "deploy": { "result": true, "reason": null },
                    "power": { "result": true, "reason": null },
                    "raid": { "result": null, "reason": "not supported" },
                });
                if let Some((iface, reason)) = &s.failing_validation {
                    v[iface.as_str()] = json!({ "result": false, "reason": reason });
                }
                ok(v)
            }
            None => ironic_error(
                StatusCode::NOT_FOUND,
                &format!("Node {ident} could not be found."),
            ),
        },
        ("PUT" | "DELETE", ["v1", "nodes", ident, "maintenance"]) => {
            let Some(id) = find(&s, ident) else {
                return ironic_error(
                    StatusCode::NOT_FOUND,
                    &format!("Node {ident} could not be found."),
                );
            };
            let on = method == Method::PUT;
            let node = s.nodes.get_mut(&id).unwrap();
            node["maintenance"] = json!(on);
            node["maintenance_reason"] = if on {
                body["reason"].clone()
            } else {
                Value::Null
            };
            StatusCode::ACCEPTED.into_response()
        }
        ("GET", ["v1", "nodes", ident, "inventory"]) => match (find(&s, ident), &s.inventory) {
            (Some(_), Some(inv)) => ok(inv.clone()),
            (Some(id), None) => ironic_error(
                StatusCode::NOT_FOUND,
                &format!("Inventory of node {id} could not be found."),
            ),
            (None, _) => ironic_error(
                StatusCode::NOT_FOUND,
                &format!("Node {ident} could not be found."),
            ),
        },
        _ => ironic_error(StatusCode::NOT_FOUND, "The resource could not be found."),
    }
}
