//! Field ownership (`metadata.managedFields`) for server-side apply: which manager set which
//! field, so that an apply that would change a field another manager set is refused with 409
//! Conflict (unless forced, which moves the field), and a field a manager stops applying is
//! removed when nobody else set it.
//!
//! A simplification of structured-merge-diff: a field is a path of object keys; lists (finalizers
//! and owner references included) are atomic leaves, so two managers never own parts of one
//! list; `metadata` contributes its labels, annotations, finalizers and owner references.
//! Ownership is read from and written back to `fieldsV1` in the real format (`{"f:spec":
//! {"f:online": {}}}`), one entry per manager, operation and subresource.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A field: the object keys from the root.
pub type Path = Vec<String>;

/// The fields a write manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything but `status` (when the resource has a status subresource).
    Main { status_subresource: bool },
    /// Only `status`.
    Status,
}

impl Scope {
    /// The scope of a write through `subresource`.
    pub fn of(subresource: Option<&str>, status_subresource: bool) -> Scope {
        match subresource {
            Some("status") => Scope::Status,
            _ => Scope::Main { status_subresource },
        }
    }

    fn covers(self, top: &str) -> bool {
        match (self, top) {
            (_, "apiVersion" | "kind") => false,
            (Scope::Status, top) => top == "status",
            (Scope::Main { status_subresource }, "status") => !status_subresource,
            (Scope::Main { .. }, _) => true,
        }
    }
}

/// The leaf fields of `obj` within `scope`.
pub fn leaves(obj: &Value, scope: Scope) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        if !scope.covers(k) {
            continue;
        }
        if k == "metadata" {
            if matches!(scope, Scope::Status) {
                continue;
            }
            for part in ["labels", "annotations"] {
                if let Some(m) = v.get(part).and_then(Value::as_object) {
                    for key in m.keys() {
                        out.insert(vec!["metadata".into(), part.into(), key.clone()]);
                    }
                }
            }
            for part in ["finalizers", "ownerReferences"] {
                if v.get(part).is_some_and(|x| !x.is_null()) {
                    out.insert(vec!["metadata".into(), part.into()]);
                }
            }
            continue;
        }
        collect(v, &mut vec![k.clone()], &mut out);
    }
    out
}

fn collect(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                collect(child, path, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path`, if any.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |cur, k| cur.get(k.as_str()))
}

fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for k in parents {
        match cur.get_mut(k.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

/// `.spec.online`, as real servers name a field in conflicts.
pub fn display(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// The `fieldsV1` document of a set of fields.
pub fn encode(fields: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut cur = &mut root;
        for k in path {
            let entry = cur
                .entry(format!("f:{k}"))
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Some(next) = entry.as_object_mut() else {
                break;
            };
            cur = next;
        }
    }
    Value::Object(root)
}

/// The fields a `fieldsV1` document names (a node with no `f:` children is a leaf; list and
/// map-key nodes written by real servers count as the whole list).
pub fn decode(doc: &Value) -> BTreeSet<Path> {
    fn walk(node: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = node
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, child) in children {
            path.push(k.trim_start_matches("f:").to_string());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(doc, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: BTreeSet<Path>,
}

impl Entry {
    fn same_slot(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// How a conflict names the manager (`"carol" using metal3.io/v1alpha1` for updates).
    fn who(&self) -> String {
        if self.operation == "Apply" {
            format!("{:?}", self.manager)
        } else {
            format!("{:?} using {}", self.manager, self.api_version)
        }
    }
}

/// The entries of an object's `metadata.managedFields`.
pub fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    Some(Entry {
                        manager: e.get("manager")?.as_str()?.to_string(),
                        operation: e.get("operation")?.as_str()?.to_string(),
                        api_version: e
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        time: e
                            .get("time")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        subresource: e
                            .get("subresource")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        fields: decode(e.get("fieldsV1").unwrap_or(&Value::Null)),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` into `obj` (entries that own nothing are dropped, as real servers drop them).
pub fn store(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": encode(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who writes, and how.
#[derive(Clone, Copy, Debug)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub scope: Scope,
    pub now: &'a str,
}

/// The entries a write starts from: the request's own `managedFields` when it sends some (a
/// client resetting or migrating ownership, as kubectl does), else the stored ones.
fn base(old: Option<&Value>, new: &Value) -> Vec<Entry> {
    match new
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    {
        // `[{}]` clears the ownership.
        Some(list) if list.len() == 1 && list[0].as_object().is_some_and(Map::is_empty) => {
            Vec::new()
        }
        Some(list) if !list.is_empty() => entries(new),
        _ => old.map(entries).unwrap_or_default(),
    }
}

/// Records an update (create, PUT, merge/JSON/strategic patch) by `w` that turned `old` into
/// `new`: the writer owns what it changed, others lose what it changed, nobody keeps a field
/// that is gone.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let mut list = base(old, new);
    let before = old.map(|o| leaves(o, w.scope)).unwrap_or_default();
    let after = leaves(new, w.scope);
    let changed: BTreeSet<Path> = after
        .iter()
        .filter(|p| !before.contains(*p) || old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .cloned()
        .collect();
    for e in list.iter_mut() {
        if !e.same_slot(w.manager, "Update", w.subresource) {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    match list
        .iter_mut()
        .find(|e| e.same_slot(w.manager, "Update", w.subresource))
    {
        Some(e) => {
            e.fields.extend(changed);
            e.time = w.now.to_string();
            e.api_version = w.api_version.to_string();
        }
        None => list.push(Entry {
            manager: w.manager.to_string(),
            operation: "Update".into(),
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: w.subresource.map(str::to_string),
            fields: changed,
        }),
    }
    forget_vanished(&mut list, new);
    store(new, &list);
}

fn forget_vanished(list: &mut [Entry], obj: &Value) {
    for e in list.iter_mut() {
        e.fields.retain(|p| value_at(obj, p).is_some());
    }
}

/// An apply that would change fields other managers own.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflicts {
    /// (how the manager is named, field) in the order found.
    pub fields: Vec<(String, String)>,
}

impl Conflicts {
    /// The Status message real servers give.
    pub fn message(&self) -> String {
        let n = self.fields.len();
        let detail = match self.fields.as_slice() {
            [(who, field)] => format!("conflict with {who}: {field}"),
            _ => {
                let mut managers: Vec<&String> = self.fields.iter().map(|(w, _)| w).collect();
                managers.sort();
                managers.dedup();
                let mut lines = Vec::new();
                for m in managers {
                    lines.push(format!("conflicts with {m}:"));
                    for (_, f) in self.fields.iter().filter(|(w, _)| w == m) {
                        lines.push(format!("- {f}"));
                    }
                }
                lines.join("\n")
            }
        };
        format!(
            "Apply failed with {n} conflict{}: {detail}",
            if n == 1 { "" } else { "s" }
        )
    }

    /// The Status `details.causes`.
    pub fn causes(&self) -> Value {
        Value::Array(
            self.fields
                .iter()
                .map(|(who, field)| {
                    json!({"reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": field})
                })
                .collect(),
        )
    }
}

fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Applies `config` by `w` over `live` (`None`: the object is created by the apply): the merged
/// object with its ownership updated, or the conflicts with other managers (unless `force`,
/// which takes the fields over).
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    w: &Writer,
    force: bool,
) -> Result<Value, Conflicts> {
    let mut merged = live.cloned().unwrap_or_else(|| json!({}));
    json_patch::merge(&mut merged, config);
    if let (Some(live), Some(m)) = (live, merged.as_object_mut()) {
        // The applied configuration never sets ownership; the live entries are the base.
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            match live.pointer("/metadata/managedFields") {
                Some(list) => meta.insert("managedFields".into(), list.clone()),
                None => meta.remove("managedFields"),
            };
        }
    }
    let mut list = live.map(entries).unwrap_or_default();
    let applied = leaves(config, w.scope);
    let mut conflicts = Vec::new();
    for e in list.iter_mut().filter(|e| e.manager != w.manager) {
        let mut lost = Vec::new();
        for p in &applied {
            for q in e.fields.iter().filter(|q| related(p, q)) {
                let before = live.and_then(|l| value_at(l, p));
                if before != value_at(config, p) {
                    conflicts.push((e.who(), display(p)));
                    lost.push(q.clone());
                }
            }
        }
        if force {
            e.fields.retain(|q| !lost.contains(q));
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(Conflicts { fields: conflicts });
    }
    let previous = list
        .iter()
        .find(|e| e.same_slot(w.manager, "Apply", w.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for dropped in previous.difference(&applied) {
        if applied.iter().any(|p| related(p, dropped)) {
            continue;
        }
        let owned_elsewhere = list
            .iter()
            .filter(|e| !e.same_slot(w.manager, "Apply", w.subresource))
            .any(|e| e.fields.contains(dropped));
        if !owned_elsewhere {
            remove_at(&mut merged, dropped);
        }
    }
    match list
        .iter_mut()
        .find(|e| e.same_slot(w.manager, "Apply", w.subresource))
    {
        Some(e) => {
            e.fields = applied;
            e.time = w.now.to_string();
            e.api_version = w.api_version.to_string();
        }
        None => list.push(Entry {
            manager: w.manager.to_string(),
            operation: "Apply".into(),
            api_version: w.api_version.to_string(),
            time: w.now.to_string(),
            subresource: w.subresource.map(str::to_string),
            fields: applied,
        }),
    }
    forget_vanished(&mut list, &merged);
    store(&mut merged, &list);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_subresource: true,
    };

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "metal3.io/v1alpha1",
            subresource: None,
            scope: MAIN,
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn managers(obj: &Value) -> Vec<(String, String, Vec<String>)> {
        entries(obj)
            .into_iter()
            .map(|e| {
                (
                    e.manager,
                    e.operation,
                    e.fields.iter().map(|p| display(p)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn fields_v1_round_trips_through_the_real_format() {
        let fields: BTreeSet<Path> = [
            vec!["spec".to_string(), "online".to_string()],
            vec![
                "metadata".to_string(),
                "labels".to_string(),
                "a".to_string(),
            ],
        ]
        .into_iter()
        .collect();
        let doc = encode(&fields);
        assert_eq!(
            doc,
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:online": {}}})
        );
        assert_eq!(decode(&doc), fields);
        // Real servers mark the parent with "." and name list items by key: still one field each.
        let real = json!({"f:spec": {".": {}, "f:online": {}}, "f:metadata": {"f:finalizers": {".": {}, "v:\"x\"": {}}}});
        assert_eq!(
            decode(&real),
            [
                vec!["metadata".to_string(), "finalizers".to_string()],
                vec!["spec".to_string(), "online".to_string()]
            ]
            .into_iter()
            .collect()
        );
    }

    #[test]
    fn an_apply_that_changes_another_managers_field_conflicts_unless_forced() {
        let alice = apply(
            None,
            &json!({"metadata": {"name": "h"}, "spec": {"online": true, "bmc": {"address": "a"}}}),
            &writer("alice"),
            false,
        )
        .unwrap();
        let bob = json!({"metadata": {"name": "h"}, "spec": {"online": false}});
        let err = apply(Some(&alice), &bob, &writer("bob"), false).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"alice\": .spec.online"
        );
        // The same value is shared, not a conflict.
        let same = json!({"metadata": {"name": "h"}, "spec": {"online": true}});
        assert!(apply(Some(&alice), &same, &writer("bob"), false).is_ok());
        let forced = apply(Some(&alice), &bob, &writer("bob"), true).unwrap();
        assert_eq!(forced["spec"]["online"], json!(false));
        assert_eq!(
            managers(&forced),
            vec![
                (
                    "alice".into(),
                    "Apply".into(),
                    vec![".spec.bmc.address".into()]
                ),
                ("bob".into(), "Apply".into(), vec![".spec.online".into()]),
            ]
        );
    }

    #[test]
    fn a_field_an_update_set_conflicts_and_names_the_updates_api_version() {
        let mut obj = json!({"metadata": {"name": "h"}, "spec": {"online": true}});
        record_update(None, &mut obj, &writer("carol"));
        let err = apply(
            Some(&obj),
            &json!({"spec": {"online": false}}),
            &writer("alice"),
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.fields,
            vec![(
                "\"carol\" using metal3.io/v1alpha1".to_string(),
                ".spec.online".to_string()
            )]
        );
    }

    #[test]
    fn a_field_no_longer_applied_is_removed_unless_someone_else_owns_it() {
        let w = writer("alice");
        let first = apply(
            None,
            &json!({"data": {"a": "1", "b": "2", "c": "3"}}),
            &Writer {
                scope: Scope::Main {
                    status_subresource: false,
                },
                ..w
            },
            false,
        )
        .unwrap();
        let mut shared = first.clone();
        shared["data"]["c"] = json!("4");
        record_update(Some(&first), &mut shared, &writer("carol"));
        let second = apply(
            Some(&shared),
            &json!({"data": {"a": "1"}}),
            &Writer {
                scope: Scope::Main {
                    status_subresource: false,
                },
                ..writer("alice")
            },
            false,
        )
        .unwrap();
        assert_eq!(second["data"], json!({"a": "1", "c": "4"}));
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_from_other_managers() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"online": true}});
        record_update(None, &mut obj, &writer("alice"));
        let mut next = obj.clone();
        next["spec"]["online"] = json!(false);
        record_update(Some(&obj), &mut next, &writer("bob"));
        assert_eq!(
            managers(&next),
            vec![
                (
                    "alice".into(),
                    "Update".into(),
                    vec![".metadata.labels.a".into()]
                ),
                ("bob".into(), "Update".into(), vec![".spec.online".into()]),
            ]
        );
    }
}
