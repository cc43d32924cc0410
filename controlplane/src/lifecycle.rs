//! Object lifecycle: create (generateName, uid, creationTimestamp, generation), update with
//! optimistic concurrency, status/spec separation, patches, and the CRD hook that registers
//! custom resources. Deletion lives in `deletion`.

use std::sync::Arc;

use chrono::SecondsFormat;
use rand::{Rng as _, RngExt as _};
use serde_json::{Map, Value, json};

use super::State;
use super::admission::{admit, check_type};
use super::builtin::{self, FieldError};
use super::crd;
use super::fields::{self, Scope, Writer};
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
    create_object(state, res, namespace, body, opts, false)
}

/// Creates an object; `applied` when it comes from a server-side apply (whose ownership
/// `fields::apply` recorded already).
fn create_object(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    body: Value,
    opts: &WriteOptions,
    applied: bool,
) -> Result<Written, ApiError> {
    check_type(res, &body)?;
    let mut obj = intake(res, &body);
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
    if has_generation(res) {
        meta.insert("generation".into(), Value::from(1));
    } else {
        meta.remove("generation");
    }
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    if !applied {
        meta.remove("managedFields");
    }
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
    let warnings = admit(res, &mut obj, &name, opts)?;
    let api_version = res.api_version();
    if !applied && let Some(w) = writer(res, opts, &api_version, None, &now) {
        fields::record_update(None, &mut obj, &w);
    }
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
            return Err(ApiError::invalid_resource(
                res,
                name,
                &[FieldError::invalid(
                    "metadata.resourceVersion",
                    "Invalid value: 0: must be specified for an update",
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
    let warnings = admit(res, &mut obj, name, opts)?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::from(res.api_version()));
        m.insert("kind".into(), Value::from(res.kind.clone()));
    }
    // An apply's ownership was settled by `fields::apply`; any other write is an update.
    let api_version = res.api_version();
    if operation == "Update"
        && let Some(w) = writer(res, opts, &api_version, subresource, &now)
    {
        fields::record_update(Some(&old), &mut obj, &w);
    }
    let spec_fields: &[&str] = &["metadata", "status", "apiVersion", "kind"];
    if has_generation(res) && without(&old, spec_fields) != without(&obj, spec_fields) {
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
    // A no-op write keeps the resourceVersion (as a real server does); a change of ownership
    // is a change, a fresher timestamp of the same ownership is not.
    let mut cmp_new = obj.clone();
    let mut cmp_old = old.clone();
    for o in [&mut cmp_new, &mut cmp_old] {
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            if let Some(entries) = m.get_mut("managedFields").and_then(Value::as_array_mut) {
                for e in entries.iter_mut().filter_map(Value::as_object_mut) {
                    e.remove("time");
                }
            }
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
    if obj.pointer("/metadata/deletionTimestamp").is_some() && !finalizers(&obj) {
        // The last finalizer is gone: the object is deleted instead of written, so watchers see
        // only DELETED (carrying the stored object); the answer is the update without a new
        // resourceVersion.
        super::deletion::remove_object(state, &mut objects, &key, true);
        return Ok(Written {
            object: present(res, &obj),
            created: false,
            warnings,
        });
    }
    let stored = objects.put(key.clone(), obj);
    if res.kind == "CustomResourceDefinition" {
        register_crd(state, &stored);
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
    if kind == PatchKind::Apply {
        return server_side_apply(
            state,
            res,
            namespace,
            name,
            decoded,
            live,
            subresource,
            opts,
        );
    }
    let Some(live) = live else {
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
    if kind != PatchKind::Json && patch_rv.is_none() {
        meta_mut(&mut patched)?.insert("resourceVersion".into(), Value::from(live_rv));
    }
    update(
        state,
        res,
        namespace,
        name,
        patched,
        subresource,
        opts,
        "Update",
    )
}

/// Server-side apply: the configuration merged over the live object (created when missing) with
/// field ownership, refused with 409 when it would change another manager's fields unless forced.
#[allow(clippy::too_many_arguments)]
fn server_side_apply(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    name: &str,
    config: Value,
    live: Option<Value>,
    subresource: Option<&str>,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let manager = opts.field_manager.as_deref().ok_or_else(|| {
        ApiError::invalid_options(
            "PatchOptions",
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        )
    })?;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "an applied configuration must be an object",
        ));
    }
    check_type(res, &config)?;
    if live.is_none() && subresource.is_some() {
        return Err(ApiError::not_found(res, name));
    }
    let now = now_text(state);
    let api_version = res.api_version();
    let w = Writer {
        manager,
        api_version: &api_version,
        subresource,
        scope: Scope::of(subresource, res.status && res.kind != "Namespace"),
        now: &now,
    };
    let live_view = live.as_ref().map(|l| present(res, l));
    let mut merged = fields::apply(live_view.as_ref(), &config, &w, opts.force)
        .map_err(|c| ApiError::apply_conflicts(c.message(), c.causes()))?;
    meta_mut(&mut merged)?.insert("name".into(), Value::from(name));
    match live {
        None => create_object(state, res, namespace, merged, opts, true),
        Some(live) => {
            let live_rv = meta_str(&live, "resourceVersion").unwrap_or_default();
            meta_mut(&mut merged)?.insert("resourceVersion".into(), Value::from(live_rv));
            update(
                state,
                res,
                namespace,
                name,
                merged,
                subresource,
                opts,
                "Apply",
            )
        }
    }
}
