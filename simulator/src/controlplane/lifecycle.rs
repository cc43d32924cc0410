//! Object lifecycle: create (generateName, uid, creationTimestamp, generation), update with
//! optimistic concurrency, status/spec separation, patches, and the CRD hook that registers
//! custom resources. Deletion lives in `deletion`.

use std::sync::Arc;

use chrono::SecondsFormat;
use rand::{Rng as _, RngExt as _};
use serde_json::{Map, Value, json};

use super::State;
use super::builtin::{self, FieldError};
use super::crd;
use super::known_fields;
use super::patch::{self, PatchKind};
use super::resource::Resource;
use super::status::ApiError;
use super::store::Key;

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

pub(super) fn now_text(state: &State) -> String {
    state.now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Checks the shape (built-ins) or schema (custom resources) of `obj`, pruning and defaulting
/// custom objects; returns warnings for `fieldValidation=Warn`.
fn admit(
    res: &Resource,
    obj: &mut Value,
    name: &str,
    opts: &WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let mut warnings = Vec::new();
    let mut errors: Vec<FieldError> = Vec::new();
    if let Some(labels) = obj.pointer("/metadata/labels")
        && !labels.is_null()
        && !labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    {
        errors.push(FieldError::invalid(
            "metadata.labels",
            "label values must be strings",
        ));
    }
    if let Some(schema) = &res.schema {
        let mut unknown = Vec::new();
        crd::prune(schema, obj, "", true, &mut unknown);
        report_unknown(res, &unknown, opts, &mut warnings)?;
        crd::default(schema, obj);
        crd::validate(schema, obj, "", &mut errors);
    } else if !res.custom {
        errors.extend(builtin::admit(&res.kind, obj));
        if errors.is_empty() {
            let unknown = known_fields::unknown(&res.kind, obj).map_err(|e| {
                ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
                    kind = res.kind,
                    version = res.version
                ))
            })?;
            for path in &unknown {
                known_fields::remove(obj, path);
            }
            let names: Vec<String> = unknown.iter().map(|p| known_fields::display(p)).collect();
            report_unknown(res, &names, opts, &mut warnings)?;
        }
    }
    if res.kind == "CustomResourceDefinition"
        && let Err(e) = crd::resources(obj)
    {
        errors.push(FieldError::invalid("spec", e.reason));
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(ApiError::invalid(res, name, &errors))
    }
}

/// Unknown (dropped) fields: an error under `fieldValidation=Strict`, warnings under `Warn`.
fn report_unknown(
    res: &Resource,
    unknown: &[String],
    opts: &WriteOptions,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if unknown.is_empty() {
        return Ok(());
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field \"{u}\""))
        .collect();
    match opts.field_validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", "),
            kind = res.kind,
            version = res.version
        ))),
        FieldValidation::Warn => {
            warnings.extend(messages);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}

fn generated_suffix(state: &State) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let Ok(mut rng) = state.rng.lock() else {
        return "x0000".to_string();
    };
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn new_uid(state: &State) -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut rng) = state.rng.lock() {
        rng.fill_bytes(&mut bytes);
    }
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Creates an object of `res` in `namespace` ("" for cluster-scoped).
pub fn create(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let mut obj = intake(res, &body);
    let kind_ok = body
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(|k| k == res.kind);
    if !kind_ok {
        return Err(ApiError::bad_request(format!(
            "the body is a {:?}, not a {}",
            body.get("kind"),
            res.kind
        )));
    }
    let suffix = generated_suffix(state);
    let uid = new_uid(state);
    let now = now_text(state);
    let meta = meta_mut(&mut obj)?;
    let name = match meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(n) => n.to_string(),
        None => match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) => format!("{prefix}{suffix}"),
            None => {
                return Err(ApiError::invalid(
                    res,
                    "",
                    &[FieldError::required("metadata.name")],
                ));
            }
        },
    };
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && res.namespaced
        && !ns.is_empty()
        && ns != namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    meta.insert("name".into(), Value::from(name.clone()));
    if res.namespaced {
        meta.insert("namespace".into(), Value::from(namespace));
    } else {
        meta.remove("namespace");
    }
    meta.insert("uid".into(), Value::from(uid));
    meta.insert("creationTimestamp".into(), Value::from(now.clone()));
    meta.insert("generation".into(), Value::from(1));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.remove("managedFields");
    if !valid_name(&name) {
        return Err(ApiError::invalid(
            res,
            &name,
            &[FieldError::invalid(
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            )],
        ));
    }
    if res.status
        && res.kind != "Namespace"
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    if let Some(manager) = &opts.field_manager {
        patch::record_manager(&mut obj, manager, "Update", &res.api_version(), &now, None);
    }
    let warnings = admit(res, &mut obj, &name, opts)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::from(res.api_version()));
        m.insert("kind".into(), Value::from(res.kind.clone()));
    }
    let mut objects = state.objects.lock().map_err(|_| lock_err())?;
    if res.namespaced
        && objects
            .get(&Key::new("/namespaces", "", namespace))
            .is_none()
    {
        return Err(ApiError::namespace_not_found(namespace));
    }
    if res.namespaced
        && objects
            .get(&Key::new("/namespaces", "", namespace))
            .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some())
    {
        return Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                res.qualified()
            ),
        ));
    }
    let key = Key::new(
        &res.storage,
        if res.namespaced { namespace } else { "" },
        &name,
    );
    if objects.get(&key).is_some() {
        return Err(ApiError::already_exists(res, &name));
    }
    if opts.dry_run {
        return Ok(Written {
            object: present(res, &obj),
            created: true,
            warnings,
        });
    }
    if res.kind == "CustomResourceDefinition" {
        crd_established(&mut obj);
    }
    let stored = objects.put(key, obj);
    if res.kind == "CustomResourceDefinition" {
        register_crd(state, &stored);
    }
    Ok(Written {
        object: present(res, &stored),
        created: true,
        warnings,
    })
}

/// Startup helper: creates a built-in object (Namespace, CRD) with default options.
pub fn create_builtin(state: &Arc<State>, plural: &str, obj: Value) -> Result<Written, ApiError> {
    let res = state
        .resources()
        .into_iter()
        .find(|r| r.plural == plural && !r.custom)
        .ok_or_else(|| {
            ApiError::new(
                500,
                "InternalError",
                format!("no built-in resource {plural}"),
            )
        })?;
    create(state, &res, "", obj, &WriteOptions::default())
}

/// Startup helper: replaces a built-in object (a CRD restored from a snapshot) by `obj`.
pub fn replace_builtin(
    state: &Arc<State>,
    plural: &str,
    name: &str,
    obj: Value,
) -> Result<Written, ApiError> {
    let res = state
        .resources()
        .into_iter()
        .find(|r| r.plural == plural && !r.custom && !r.namespaced)
        .ok_or_else(|| {
            ApiError::new(
                500,
                "InternalError",
                format!("no cluster-scoped built-in resource {plural}"),
            )
        })?;
    let mut obj = obj;
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    update(
        state,
        &res,
        "",
        name,
        obj,
        None,
        &WriteOptions::default(),
        "Update",
    )
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

/// Replaces an object (`subresource` "status" writes status only; otherwise status is kept
/// when the resource has a status subresource). A stale `resourceVersion` is a 409 Conflict.
#[allow(clippy::too_many_arguments)]
pub fn update(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    name: &str,
    body: Value,
    subresource: Option<&str>,
    opts: &WriteOptions,
    operation: &str,
) -> Result<Written, ApiError> {
    let objects = state.objects.lock().map_err(|_| lock_err())?;
    let key = Key::new(
        &res.storage,
        if res.namespaced { namespace } else { "" },
        name,
    );
    let old = objects
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(res, name))?;
    drop(objects);
    let body = intake(res, &body);
    if let Some(n) = meta_str(&body, "name")
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let old_rv = meta_str(&old, "resourceVersion")
        .unwrap_or_default()
        .to_string();
    match meta_str(&body, "resourceVersion") {
        Some(rv) if !rv.is_empty() && rv != old_rv => return Err(ApiError::conflict(res, name)),
        Some(rv) if !rv.is_empty() => {}
        _ if res.custom && operation == "Update" => {
            return Err(ApiError::invalid(
                res,
                name,
                &[FieldError::invalid(
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                )],
            ));
        }
        _ => {}
    }
    let mut obj = if subresource == Some("status") {
        let mut o = old.clone();
        if let Some(m) = o.as_object_mut() {
            match body.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
        o
    } else {
        let mut o = body;
        if res.status
            && let Some(m) = o.as_object_mut()
        {
            match old.get("status") {
                Some(s) => m.insert("status".into(), s.clone()),
                None => m.remove("status"),
            };
        }
        o
    };
    {
        let old_meta = old
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let meta = meta_mut(&mut obj)?;
        for f in [
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ] {
            match old_meta.get(f) {
                Some(v) => meta.insert(f.into(), v.clone()),
                None => meta.remove(f),
            };
        }
        if meta.get("deletionTimestamp").is_some() {
            let old_f = old_meta
                .get("finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let new_f = meta
                .get("finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if new_f.iter().any(|f| !old_f.contains(f)) {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "{} \"{name}\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                        res.qualified_kind()
                    ),
                ));
            }
        }
    }
    let now = now_text(state);
    if let Some(manager) = &opts.field_manager {
        patch::record_manager(
            &mut obj,
            manager,
            operation,
            &res.api_version(),
            &now,
            subresource,
        );
    }
    let warnings = admit(res, &mut obj, name, opts)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::from(res.api_version()));
        m.insert("kind".into(), Value::from(res.kind.clone()));
    }
    let spec_fields: &[&str] = &["metadata", "status", "apiVersion", "kind"];
    if without(&old, spec_fields) != without(&obj, spec_fields) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            + 1;
        meta_mut(&mut obj)?.insert("generation".into(), Value::from(g));
    }
    if res.kind == "CustomResourceDefinition" {
        crd_established(&mut obj);
    }
    // A no-op write keeps the resourceVersion (as a real server does).
    let mut cmp_new = obj.clone();
    let mut cmp_old = old.clone();
    for o in [&mut cmp_new, &mut cmp_old] {
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
    }
    if opts.dry_run {
        return Ok(Written {
            object: present(res, &obj),
            created: false,
            warnings,
        });
    }
    let mut objects = state.objects.lock().map_err(|_| lock_err())?;
    let current_rv = objects
        .get(&key)
        .and_then(|o| meta_str(o, "resourceVersion"))
        .map(str::to_string);
    if current_rv.as_deref() != Some(old_rv.as_str()) {
        // Someone else wrote between our read and our write.
        return Err(ApiError::conflict(res, name));
    }
    if cmp_new == cmp_old {
        return Ok(Written {
            object: present(res, &old),
            created: false,
            warnings,
        });
    }
    let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
    let stored = objects.put(key.clone(), obj);
    if res.kind == "CustomResourceDefinition" {
        register_crd(state, &stored);
    }
    if deleting && !finalizers(&stored) {
        let removed =
            super::deletion::remove_object(state, &mut objects, &key, true).unwrap_or(stored);
        return Ok(Written {
            object: present(res, &removed),
            created: false,
            warnings,
        });
    }
    Ok(Written {
        object: present(res, &stored),
        created: false,
        warnings,
    })
}

/// Patches an object; an apply patch creates it when missing.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    name: &str,
    kind: PatchKind,
    body: &[u8],
    subresource: Option<&str>,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let decoded = patch::decode(kind, body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if kind == PatchKind::Apply && opts.field_manager.is_none() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
        ));
    }
    let key = Key::new(
        &res.storage,
        if res.namespaced { namespace } else { "" },
        name,
    );
    let live = state
        .objects
        .lock()
        .map_err(|_| lock_err())?
        .get(&key)
        .cloned();
    let Some(live) = live else {
        if kind == PatchKind::Apply && subresource.is_none() {
            let mut obj = decoded;
            meta_mut(&mut obj)?.insert("name".into(), Value::from(name));
            return create(state, res, namespace, obj, opts);
        }
        return Err(ApiError::not_found(res, name));
    };
    let live_view = present(res, &live);
    let mut patched = patch::apply(kind, &live_view, &decoded).map_err(|e| match e {
        patch::PatchError::Decode(m) => ApiError::bad_request(m),
        patch::PatchError::Apply(m) => ApiError::new(422, "Invalid", m),
    })?;
    // A patch that does not name a resourceVersion applies to the current one.
    let patch_rv = decoded
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    let live_rv = meta_str(&live, "resourceVersion")
        .unwrap_or_default()
        .to_string();
    if kind != PatchKind::Json && patch_rv.is_none() || kind == PatchKind::Apply {
        meta_mut(&mut patched)?.insert("resourceVersion".into(), Value::from(live_rv));
    }
    let operation = if kind == PatchKind::Apply {
        "Apply"
    } else {
        "Update"
    };
    update(
        state,
        res,
        namespace,
        name,
        patched,
        subresource,
        opts,
        operation,
    )
}
