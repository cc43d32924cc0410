//! Paths, bodies and small readers the shapes share.

use std::time::Duration;

use metal_e2e::differential::{Reply, Side};
use metal_e2e::wait::{Check, eventually};
use metal_testkit::hosts::Bmh;
use serde_json::{Value, json};

pub const MERGE: &str = "application/merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const APPLY: &str = "application/apply-patch+yaml";
/// What kubectl asks for when it prints (`kubectl get`).
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// How long a condition the real server reaches in the background may take (its garbage collector,
/// namespace controller, or a watch cache catching up).
pub const CONTROLLERS: Duration = Duration::from_secs(60);

pub fn bmhs(ns: &str) -> String {
    format!("/apis/metal3.io/v1alpha1/namespaces/{ns}/baremetalhosts")
}

pub fn hardware(ns: &str) -> String {
    format!("/apis/metal3.io/v1alpha1/namespaces/{ns}/hardwaredata")
}

pub fn hostpools(ns: &str) -> String {
    format!("/apis/metal-operator.io/v1alpha1/namespaces/{ns}/hostpools")
}

pub fn configmaps(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps")
}

pub fn secrets(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/secrets")
}

pub fn leases(ns: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases")
}

/// A BareMetalHost as users register one (Redfish BMC, a credentials Secret name).
pub fn bmh(name: &str, labels: Value) -> Value {
    Bmh::new(name)
        .labels(labels)
        .bmc("redfish://192.0.2.1/redfish/v1/Systems/1", "bmc-secret")
        .json()
}

pub fn configmap(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": {"a": "1"}})
}

pub fn hostpool(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "metal-operator.io/v1alpha1", "kind": "HostPool",
        "metadata": {"name": name}, "spec": {"replicas": replicas}})
}

/// An owner reference to the object a create or get returned.
pub fn owner_ref(owner: &Reply, controller: bool) -> Value {
    json!({
        "apiVersion": owner.body["apiVersion"], "kind": owner.body["kind"],
        "name": owner.name(), "uid": owner.body["metadata"]["uid"],
        "controller": controller, "blockOwnerDeletion": controller,
    })
}

/// Percent-encodes a query value (selectors carry `=`, `!`, `,`, spaces and parentheses).
pub fn q(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sorted names of a list reply.
pub fn sorted_names(reply: &Reply) -> Vec<String> {
    let mut names = reply.item_names();
    names.sort();
    names
}

/// `{code, reason, items}` of a list: the answer and what it selected.
pub fn selection(reply: &Reply) -> Value {
    json!({"code": reply.code, "reason": reply.reason(), "items": sorted_names(reply)})
}

/// A Table's columns as `(name, type, format, priority)` and its rows' cells without the columns
/// that show an age (those read the clock).
pub fn table_facts(reply: &Reply) -> (Value, Value) {
    let defs = reply.body["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let columns: Vec<Value> = defs
        .iter()
        .map(|c| json!([c["name"], c["type"], c["format"], c["priority"]]))
        .collect();
    let timed: Vec<usize> = defs
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                c["name"].as_str(),
                Some("Age" | "Last Seen" | "First Seen" | "Created At")
            )
        })
        .map(|(i, _)| i)
        .collect();
    let rows: Vec<Value> = reply.body["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let cells: Vec<Value> = r["cells"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    if timed.contains(&i) {
                        json!("<age>")
                    } else {
                        c
                    }
                })
                .collect();
            json!(cells)
        })
        .collect();
    (json!(columns), json!(rows))
}

/// `rows` with the cells of the column `name` replaced by a placeholder.
pub fn mask_column(columns: &Value, rows: Value, name: &str) -> Value {
    let Some(at) = columns
        .as_array()
        .and_then(|c| c.iter().position(|c| c[0] == name))
    else {
        return rows;
    };
    let masked: Vec<Value> = rows
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut r| {
            if let Some(cell) = r.get_mut(at) {
                *cell = json!("<masked>");
            }
            r
        })
        .collect();
    json!(masked)
}

/// Waits (bounded) until GET `path` answers `code`; returns whether it did.
pub async fn becomes(side: &Side, path: &str, code: u16) -> bool {
    eventually(
        CONTROLLERS,
        &format!("{path} to answer {code}"),
        || async move {
            let reply = side.get(path).await?;
            Ok(if reply.code == code {
                Check::Done(())
            } else {
                Check::Pending(format!("{}", reply.code))
            })
        },
    )
    .await
    .is_ok()
}

/// Waits (bounded) until GET `path` satisfies `done`; returns the last reply.
pub async fn settles(
    side: &Side,
    path: &str,
    done: impl Fn(&Reply) -> bool,
) -> anyhow::Result<Reply> {
    let done = &done;
    let seen = eventually(CONTROLLERS, &format!("{path} to settle"), || async move {
        let reply = side.get(path).await?;
        Ok(if done(&reply) {
            Check::Done(reply)
        } else {
            Check::Pending(format!("{} {}", reply.code, reply.body))
        })
    })
    .await;
    match seen {
        Ok(reply) => Ok(reply),
        Err(_) => side.get(path).await,
    }
}
