//! Creating objects: generated names, uids, creation timestamps and the first generation.

use std::sync::Arc;

use rand::{Rng as _, RngExt as _};
use serde_json::Value;

use super::super::State;
use super::super::admission::{admit, check_type};
use super::super::builtin::FieldError;
use super::super::deletion::collect_if_orphaned;
use super::super::fields;
use super::super::resource::Resource;
use super::super::status::ApiError;
use super::super::store::Key;
use super::{
    WriteOptions, Written, crd_established, has_generation, intake, lock_err, meta_mut, now_text,
    path_segment_problem, present, register_crd, update, valid_name, writer,
};

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
pub(super) fn create_object(
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
    // core/v1 Events keep the legacy rules (kube-apiserver's `ValidateEventCreate` skips the
    // name check for that version): any valid path segment, so `Registered-x7k2p` (upstream
    // baremetal-operator's generateName) is accepted there and refused through events.k8s.io/v1.
    let legacy_event = res.kind == "Event" && res.group.is_empty();
    if legacy_event {
        if let Some(why) = path_segment_problem(&name) {
            return Err(ApiError::invalid(
                res,
                &name,
                &[FieldError::invalid(
                    "metadata.name",
                    format!("Invalid value: \"{name}\": {why}"),
                )],
            ));
        }
    } else if !valid_name(&name) {
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
    let used = objects.count(&res.storage);
    if used >= state.max_objects_per_resource {
        return Err(ApiError::exceeded_quota(
            res,
            &name,
            used,
            state.max_objects_per_resource,
        ));
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
    let stored = objects.put(key.clone(), obj);
    if res.kind == "CustomResourceDefinition" {
        register_crd(state, &stored);
    }
    collect_if_orphaned(state, &mut objects, &key, &now);
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
