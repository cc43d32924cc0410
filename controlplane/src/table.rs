//! `meta.k8s.io/v1` Table responses built from printer columns, with the JSONPath subset that
//! `additionalPrinterColumns` use (`.a.b`, `.a.b[0]`, `.a['b.c']`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::resource::Resource;

/// Evaluates a simple JSONPath (`.a.b[0].c`); None when any step is missing.
pub fn eval<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj;
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let (field, tail) = r.split_at(end);
            if !field.is_empty() {
                cur = cur.get(field)?;
            }
            rest = tail;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            let quoted = inner.trim_matches(|c| c == '\'' || c == '"');
            cur = match inner.parse::<usize>() {
                Ok(i) => cur.get(i)?,
                Err(_) => cur.get(quoted)?,
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

/// A short human duration, as `kubectl get` shows ages (`42s`, `5m3s`, `2d4h`).
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10799 => format!("{}m", s / 60),
        10800..=172799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn cell(col_type: &str, v: Option<&Value>, now: DateTime<Utc>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if col_type == "date" => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Value::from(human_duration(now - t.with_timezone(&Utc))),
            Err(_) => Value::from(s.clone()),
        },
        Some(Value::String(s)) => Value::from(s.clone()),
        Some(Value::Bool(b)) if col_type == "string" => Value::from(b.to_string()),
        Some(Value::Number(n)) if col_type == "string" => Value::from(n.to_string()),
        // An object reference reads as `kind/name` (as kubectl shows involved objects).
        Some(Value::Object(m))
            if m.get("kind").is_some_and(Value::is_string)
                && m.get("name").is_some_and(Value::is_string) =>
        {
            let kind = m.get("kind").and_then(Value::as_str).unwrap_or_default();
            let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
            Value::from(format!("{}/{name}", kind.to_lowercase()))
        }
        Some(other @ (Value::Array(_) | Value::Object(_))) => Value::from(other.to_string()),
        Some(other) => other.clone(),
    }
}

fn partial(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(Value::Null),
    })
}

/// A Table of `objects` (Name first, then the resource's columns); `include_object` is the
/// `includeObject` parameter (`None`, `Metadata` – the default – or `Object`).
pub fn table(
    res: &Resource,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
    now: DateTime<Utc>,
) -> Value {
    // Name comes first unless the resource places it itself (Events put it last, in -o wide).
    let name_first = !res.columns.iter().any(|c| c.name == "Name");
    let mut defs = Vec::new();
    if name_first {
        defs.push(json!({
            "name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace."
        }));
    }
    for c in &res.columns {
        defs.push(json!({
            "name": c.name, "type": c.type_, "format": c.format,
            "description": c.description, "priority": c.priority,
        }));
    }
    // Built-in Event printers read the core/v1 form, whichever group the Event was read through.
    let events_v1 = res.kind == "Event" && res.group == "events.k8s.io";
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let core = events_v1.then(|| super::builtin::event_to_core(o));
            let printed = core.as_ref().unwrap_or(o);
            let mut cells = Vec::new();
            if name_first {
                cells.push(o.pointer("/metadata/name").cloned().unwrap_or(Value::Null));
            }
            for c in &res.columns {
                cells.push(match c.compute {
                    Some(compute) => compute(printed, now),
                    None => cell(&c.type_, eval(printed, &c.json_path), now),
                });
            }
            let object = match include_object {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => partial(o),
            };
            json!({ "cells": cells, "object": object })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset_walks_fields_and_indexes() {
        let o = json!({"status": {"conditions": [{"type": "Ready"}], "a.b": 1}});
        assert_eq!(
            eval(&o, ".status.conditions[0].type"),
            Some(&json!("Ready"))
        );
        assert_eq!(eval(&o, ".status['a.b']"), Some(&json!(1)));
        assert_eq!(eval(&o, ".status.missing"), None);
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(chrono::Duration::seconds(42)), "42s");
        assert_eq!(human_duration(chrono::Duration::seconds(303)), "5m3s");
        assert_eq!(human_duration(chrono::Duration::seconds(7200)), "120m");
        assert_eq!(human_duration(chrono::Duration::days(3)), "3d");
    }
}
