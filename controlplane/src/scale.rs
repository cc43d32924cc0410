//! The `/scale` subresource: an `autoscaling/v1` Scale view of a resource's replica paths.

use serde_json::{Value, json};

use super::resource::Resource;
use super::table;

/// The Scale document of `obj`.
pub fn scale_of(res: &Resource, obj: &Value) -> Value {
    let paths = res.scale.clone();
    let read = |p: Option<&str>| {
        p.and_then(|p| table::eval(obj, p))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let spec = read(paths.as_ref().map(|p| p.spec_replicas.as_str()));
    let status = read(paths.as_ref().map(|p| p.status_replicas.as_str()));
    let mut scale = json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj.pointer("/metadata/name"), "namespace": obj.pointer("/metadata/namespace"),
            "uid": obj.pointer("/metadata/uid"), "resourceVersion": obj.pointer("/metadata/resourceVersion"),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp")
        },
        "spec": {"replicas": if spec.is_null() { json!(0) } else { spec }},
        "status": {"replicas": if status.is_null() { json!(0) } else { status }}
    });
    if let Some(sel) = paths
        .and_then(|p| p.label_selector)
        .and_then(|p| table::eval(obj, &p).cloned())
    {
        scale["status"]["selector"] = sel;
    }
    scale
}

/// Sets the value at a JSON pointer, creating objects on the way.
pub fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = pointer.split('/').filter(|s| !s.is_empty()).collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*p).to_string(), value);
            return;
        }
        cur = map.entry((*p).to_string()).or_insert_with(|| json!({}));
    }
}
