//! Deletion: finalizers hold an object (deletionTimestamp set) until they are removed; a
//! namespace terminates until it is empty; removing an owner deletes its dependents
//! (owner-reference garbage collection, run synchronously; `Orphan` leaves them alone); removing
//! a CRD unregisters its resources and drops their objects.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::State;
use super::lifecycle::{finalizers, lock_err, meta_str, now_text, present};
use super::resource::Resource;
use super::status::ApiError;
use super::store::{Key, Objects};

/// Deletes an object: with finalizers it is only marked (deletionTimestamp) until they are gone.
pub fn delete(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    name: &str,
    orphan: bool,
    precondition_uid: Option<&str>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let mut objects = state.objects.lock().map_err(|_| lock_err())?;
    let key = Key::new(
        &res.storage,
        if res.namespaced { namespace } else { "" },
        name,
    );
    let obj = objects
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(res, name))?;
    if let Some(uid) = precondition_uid
        && meta_str(&obj, "uid") != Some(uid)
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&obj, "uid").unwrap_or_default()
            ),
        ));
    }
    if dry_run {
        return Ok(present(res, &obj));
    }
    let now = now_text(state);
    let out = delete_key(state, &mut objects, &key, !orphan, &now).unwrap_or(obj);
    Ok(present(res, &out))
}

/// Marks or removes one object and cascades (namespace contents, owner references).
fn delete_key(
    state: &State,
    objects: &mut Objects,
    key: &Key,
    propagate: bool,
    now: &str,
) -> Option<Value> {
    let obj = objects.get(key)?.clone();
    let is_namespace = key.storage == "/namespaces";
    if is_namespace {
        for k in objects.keys_in_namespace(&key.name) {
            delete_key(state, objects, &k, propagate, now);
        }
    }
    let blocked =
        finalizers(&obj) || (is_namespace && !objects.keys_in_namespace(&key.name).is_empty());
    if blocked {
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Some(obj);
        }
        let mut marked = obj;
        if let Some(meta) = marked.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("deletionTimestamp".into(), Value::from(now));
            meta.insert("deletionGracePeriodSeconds".into(), Value::from(0));
        }
        if is_namespace && let Some(m) = marked.as_object_mut() {
            m.insert("status".into(), json!({"phase": "Terminating"}));
        }
        return Some(objects.put(key.clone(), marked));
    }
    remove_object(state, objects, key, propagate)
}

/// Removes an object for good and runs the consequences.
pub(super) fn remove_object(
    state: &State,
    objects: &mut Objects,
    key: &Key,
    propagate: bool,
) -> Option<Value> {
    let removed = objects.remove(key)?;
    let now = state.now().to_rfc3339_opts(SecondsFormat::Secs, true);
    if key.storage == "apiextensions.k8s.io/customresourcedefinitions" {
        unregister_crd(state, objects, &removed);
    }
    if propagate && let Some(uid) = meta_str(&removed, "uid") {
        let mut queue: VecDeque<Key> = objects
            .all()
            .filter(|(_, o)| {
                o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        while let Some(k) = queue.pop_front() {
            delete_key(state, objects, &k, true, &now);
        }
    }
    if !key.namespace.is_empty() {
        let ns_key = Key::new("/namespaces", "", &key.namespace);
        let terminating = objects
            .get(&ns_key)
            .is_some_and(|n| n.pointer("/metadata/deletionTimestamp").is_some());
        if terminating && objects.keys_in_namespace(&key.namespace).is_empty() {
            objects.remove(&ns_key);
        }
    }
    Some(removed)
}

fn unregister_crd(state: &State, objects: &mut Objects, crd_obj: &Value) {
    let group = crd_obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = crd_obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let storage = format!("{group}/{plural}");
    if let Ok(mut reg) = state.registry.write() {
        reg.retain(|r| !(r.custom && r.storage == storage));
    }
    let keys: Vec<Key> = objects
        .list(&storage, None)
        .into_iter()
        .map(|(k, _)| k.clone())
        .collect();
    for k in keys {
        objects.remove(&k);
    }
}
