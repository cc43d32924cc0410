//! Deletion: finalizers hold an object (deletionTimestamp set) until they are removed; a
//! namespace terminates until it is empty; removing an owner deletes its dependents
//! (owner-reference garbage collection, run synchronously; `Orphan` leaves them in place without
//! the reference to the removed owner, as the garbage collector leaves them); removing a CRD
//! unregisters its resources and drops their objects. `Orphan` and `Foreground` first mark the
//! owner with the garbage collector's finalizer (`orphan`, `foregroundDeletion`) — the delete
//! answers with that object and watchers see it — then do the collector's work at once.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::State;
use super::lifecycle::{finalizers, lock_err, meta_str, now_text, present};
use super::resource::Resource;
use super::status::ApiError;
use super::store::{Key, Objects};

/// What a delete did.
#[derive(Debug)]
pub struct Deleted {
    /// The object as it was removed, or as it now waits for its finalizers.
    pub object: Value,
    /// Removed at once (no finalizer held it).
    pub gone: bool,
}

/// A delete's `propagationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    /// The garbage collector's finalizer for this policy, if it uses one.
    fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some("foregroundDeletion"),
            Propagation::Orphan => Some("orphan"),
        }
    }
}

/// Deletes an object: with finalizers it is only marked (deletionTimestamp) until they are gone.
pub fn delete(
    state: &Arc<State>,
    res: &Resource,
    namespace: &str,
    name: &str,
    policy: Propagation,
    precondition_uid: Option<&str>,
    dry_run: bool,
) -> Result<Deleted, ApiError> {
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
        return Ok(Deleted {
            gone: !finalizers(&obj),
            object: present(res, &obj),
        });
    }
    let now = now_text(state);
    if let Some(gc) = policy.finalizer()
        && key.storage != "/namespaces"
        && obj.pointer("/metadata/deletionTimestamp").is_none()
    {
        let marked = collect_with_finalizer(state, &mut objects, &key, obj, gc, &now);
        return Ok(Deleted {
            gone: false,
            object: present(res, &marked),
        });
    }
    let propagate = policy != Propagation::Orphan;
    let out = delete_key(state, &mut objects, &key, propagate, &now).unwrap_or(obj);
    Ok(Deleted {
        gone: objects.get(&key).is_none(),
        object: present(res, &out),
    })
}

/// Marks an object as being deleted, as kube-apiserver's `markAsDeleting` does: the
/// deletionTimestamp, a zero grace period, and — the first time — `metadata.generation` bumped, so
/// controllers that filter on generation changes (controller-runtime's
/// `GenerationChangedPredicate`, upstream baremetal-operator's host controller) see the deletion.
fn mark_deleting(meta: &mut serde_json::Map<String, Value>, now: &str) {
    if !meta.contains_key("deletionTimestamp")
        && let Some(g) = meta.get("generation").and_then(Value::as_i64)
        && g > 0
    {
        meta.insert("generation".into(), Value::from(g + 1));
    }
    meta.insert("deletionTimestamp".into(), Value::from(now));
    meta.insert("deletionGracePeriodSeconds".into(), Value::from(0));
}

/// What the garbage collector does for an `Orphan` or `Foreground` delete, at once: the owner
/// marked with `gc` (the answer), its dependents orphaned or deleted, the finalizer removed and
/// the owner with it unless other finalizers hold it.
fn collect_with_finalizer(
    state: &State,
    objects: &mut Objects,
    key: &Key,
    obj: Value,
    gc: &str,
    now: &str,
) -> Value {
    let mut marked = obj;
    if let Some(meta) = marked.get_mut("metadata").and_then(Value::as_object_mut) {
        let list = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = list.as_array_mut() {
            list.push(Value::from(gc));
        }
        mark_deleting(meta, now);
    }
    let marked = objects.put(key.clone(), marked);
    if let Some(uid) = meta_str(&marked, "uid").map(str::to_string) {
        if gc == "orphan" {
            orphan_dependents(objects, &uid);
        } else {
            delete_dependents(state, objects, &uid, now);
        }
    }
    let mut released = marked.clone();
    if let Some(meta) = released.get_mut("metadata").and_then(Value::as_object_mut) {
        let rest: Vec<Value> = meta
            .get("finalizers")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter(|x| *x != gc).cloned().collect())
            .unwrap_or_default();
        if rest.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), Value::Array(rest));
        }
    }
    if finalizers(&released) {
        objects.put(key.clone(), released);
    } else {
        remove_object(state, objects, key, false);
    }
    marked
}

/// The garbage collector's look at a new object: one whose owner references all name owners that
/// do not exist (deleted before it was created — a controller acting on a stale cache) is deleted
/// at once, as kube-controller-manager's collector deletes it shortly after; references to absent
/// owners beside a live one are dropped. Without this a dependent created just after its owner
/// was removed would live on for ever here, while a real cluster collects it.
pub fn collect_if_orphaned(state: &State, objects: &mut Objects, key: &Key, now: &str) {
    let Some(owners) = objects
        .get(key)
        .and_then(|o| o.pointer("/metadata/ownerReferences"))
        .and_then(Value::as_array)
        .filter(|refs| !refs.is_empty())
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect::<Vec<String>>()
        })
    else {
        return;
    };
    let absent: Vec<&String> = owners
        .iter()
        .filter(|uid| {
            !objects
                .all()
                .any(|(_, o)| meta_str(o, "uid") == Some(uid.as_str()))
        })
        .collect();
    if absent.is_empty() {
        return;
    }
    if absent.len() == owners.len() {
        delete_key(state, objects, key, true, now);
        return;
    }
    if let Some(mut obj) = objects.get(key).cloned() {
        if let Some(refs) = obj
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| {
                r.get("uid")
                    .and_then(Value::as_str)
                    .is_none_or(|u| !absent.iter().any(|a| a.as_str() == u))
            });
        }
        objects.put(key.clone(), obj);
    }
}

/// Deletes the dependents of a removed owner (and theirs, in turn).
fn delete_dependents(state: &State, objects: &mut Objects, owner_uid: &str, now: &str) {
    let mut queue: VecDeque<Key> = objects
        .all()
        .filter(|(_, o)| references(o, owner_uid))
        .map(|(k, _)| k.clone())
        .collect();
    while let Some(k) = queue.pop_front() {
        delete_key(state, objects, &k, true, now);
    }
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
            mark_deleting(meta, now);
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
    if let Some(uid) = meta_str(&removed, "uid") {
        if propagate {
            delete_dependents(state, objects, uid, &now);
        } else {
            orphan_dependents(objects, uid);
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

/// Drops the references to a removed owner from its dependents (which stay).
fn orphan_dependents(objects: &mut Objects, owner_uid: &str) {
    let dependents: Vec<(Key, Value)> = objects
        .all()
        .filter(|(_, o)| references(o, owner_uid))
        .map(|(k, o)| (k.clone(), o.clone()))
        .collect();
    for (key, mut obj) in dependents {
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            let kept: Vec<Value> = meta
                .get("ownerReferences")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if kept.is_empty() {
                meta.remove("ownerReferences");
            } else {
                meta.insert("ownerReferences".into(), Value::Array(kept));
            }
        }
        objects.put(key, obj);
    }
}

fn references(obj: &Value, owner_uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
        })
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
