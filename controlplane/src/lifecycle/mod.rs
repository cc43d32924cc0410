//! Object lifecycle: create (generateName, uid, creationTimestamp, generation), update with
//! optimistic concurrency, status/spec separation, patches, and the CRD hook that registers
//! custom resources. Deletion lives in `deletion`.

/// Create: generated names, uid, creationTimestamp, generation; the start-up helpers.
mod create;
/// Update (optimistic concurrency, status/spec separation), patches and server-side apply.
mod update;

use create::create_object;
pub use create::{create, create_builtin, replace_builtin};
pub use update::{patch, update};

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use super::State;
use super::builtin;
use super::crd;
use super::fields::{Scope, Writer};
use super::resource::Resource;
use super::status::ApiError;

/// `fieldValidation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    #[default]
    Ignore,
    Warn,
    Strict,
}

/// Options of a write request.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    pub field_manager: Option<String>,
    /// Server-side apply takes fields other managers own.
    pub force: bool,
}

/// A successful write: the object (as served) and warnings for the `Warning` header.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

pub(super) fn lock_err() -> ApiError {
    ApiError::new(500, "InternalError", "control plane state lock poisoned")
}

/// Finds a served resource by group, version and plural.
pub fn find(state: &State, group: &str, version: &str, plural: &str) -> Option<Resource> {
    state
        .registry
        .read()
        .ok()?
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .cloned()
}

/// The stored object as served by `res` (apiVersion/kind set; Events converted per group).
pub fn present(res: &Resource, stored: &Value) -> Value {
    let mut out = if res.kind == "Event" && res.group == "events.k8s.io" {
        builtin::event_from_core(stored)
    } else {
        stored.clone()
    };
    if let Some(m) = out.as_object_mut() {
        m.insert("apiVersion".into(), Value::from(res.api_version()));
        m.insert("kind".into(), Value::from(res.kind.clone()));
    }
    out
}

fn intake(res: &Resource, body: &Value) -> Value {
    if res.kind == "Event" && res.group == "events.k8s.io" {
        builtin::event_to_core(body)
    } else {
        body.clone()
    }
}

pub(super) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

pub(super) fn finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Why `name` cannot be a path segment (apimachinery's `IsValidPathSegmentName`), if it cannot.
fn path_segment_problem(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        return Some(format!("may not be '{name}'"));
    }
    ["/", "%"]
        .iter()
        .find(|bad| name.contains(**bad))
        .map(|bad| format!("may not contain '{bad}'"))
}

pub(super) fn now_text(state: &State) -> String {
    state.now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Kinds whose objects count spec changes in `metadata.generation`.
fn has_generation(res: &Resource) -> bool {
    res.custom
        || matches!(
            res.kind.as_str(),
            "Deployment" | "CustomResourceDefinition" | "ValidatingWebhookConfiguration"
        )
}

/// The writer of a non-apply write (`None` when the request names no manager).
fn writer<'a>(
    res: &'a Resource,
    opts: &'a WriteOptions,
    api_version: &'a str,
    subresource: Option<&'a str>,
    now: &'a str,
) -> Option<Writer<'a>> {
    opts.field_manager.as_deref().map(|manager| Writer {
        manager,
        api_version,
        subresource,
        scope: Scope::of(subresource, res.status && res.kind != "Namespace"),
        now,
    })
}

fn crd_established(obj: &mut Value) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = obj.as_object_mut() {
        m.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
                ]
            }),
        );
    }
}

pub(super) fn register_crd(state: &State, crd_obj: &Value) {
    match crd::resources(crd_obj) {
        Ok(new) => {
            if let Ok(mut reg) = state.registry.write() {
                let storages: Vec<String> = new.iter().map(|r| r.storage.clone()).collect();
                reg.retain(|r| !(r.custom && storages.contains(&r.storage)));
                reg.extend(new);
            }
        }
        Err(e) => tracing::warn!(error = %e, "CRD not served"),
    }
}

fn without(obj: &Value, fields: &[&str]) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for f in fields {
            m.remove(*f);
        }
    }
    o
}
