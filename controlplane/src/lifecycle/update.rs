//! Replacing and patching objects: optimistic concurrency, status/spec separation, generation
//! bumps, JSON/merge/strategic patches and server-side apply with field ownership.

use std::sync::Arc;

use serde_json::Value;

use super::super::State;
use super::super::admission::{admit, check_type};
use super::super::builtin::FieldError;
use super::super::fields::{self, Scope, Writer};
use super::super::patch::{self, PatchKind};
use super::super::resource::Resource;
use super::super::status::ApiError;
use super::super::store::Key;
use super::{
    WriteOptions, Written, crd_established, create_object, finalizers, has_generation, intake,
    lock_err, meta_mut, meta_str, now_text, present, register_crd, without, writer,
};

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
        super::super::deletion::remove_object(state, &mut objects, &key, true);
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
    // A patch that names no resourceVersion applies to whatever is current: when another write
    // lands between our read and our write, the patch is applied again to the fresher object
    // (as kube-apiserver's GuaranteedUpdate does), never answered 409.
    let unconditional = decoded
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_none();
    let mut live = live;
    for _ in 0..PATCH_ATTEMPTS {
        let result = patch_once(
            state,
            res,
            namespace,
            name,
            kind,
            &decoded,
            live.take(),
            subresource,
            opts,
        );
        match result {
            Err(e) if unconditional && e.code == 409 && e.reason == "Conflict" => {
                live = state
                    .objects
                    .lock()
                    .map_err(|_| lock_err())?
                    .get(&key)
                    .cloned();
            }
            other => return other,
        }
    }
    Err(ApiError::conflict(res, name))
}

/// How many times a patch without a resourceVersion is applied before a run of concurrent
/// writes makes it give up with 409 (kube-apiserver retries until its request timeout).
const PATCH_ATTEMPTS: usize = 16;

/// One application of a (non-apply) patch to `live`, written if `live` is still current.
#[allow(clippy::too_many_arguments)]
fn patch_once(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    name: &str,
    kind: PatchKind,
    decoded: &Value,
    live: Option<Value>,
    subresource: Option<&str>,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let Some(live) = live else {
        return Err(ApiError::not_found(res, name));
    };
    let live_view = present(res, &live);
    let mut patched = patch::apply(kind, &live_view, decoded).map_err(|e| match e {
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
