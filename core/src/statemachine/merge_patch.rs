//! The smallest JSON merge patch (RFC 7386) that turns one document into another.
//!
//! Status is written as a merge patch of what changed: fields that disappeared become `null`,
//! so a cleared `errorType` is really removed on the server rather than left behind.

use serde_json::{Map, Value};

/// A merge patch that turns `old` into `new` (`None` when they are equal).
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (key, old_value) in o {
                match n.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) => {
                        if let Some(p) = merge_diff(old_value, new_value) {
                            patch.insert(key.clone(), p);
                        }
                    }
                }
            }
            for (key, new_value) in n {
                if !o.contains_key(key) {
                    patch.insert(key.clone(), new_value.clone());
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        // A nested null in `new` cannot be expressed in a merge patch (it means "delete"), which
        // matches Kubernetes' own treatment of null fields.
        (o, n) if o == n => None,
        (_, n) => Some(n.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(target: &mut Value, patch: &Value) {
        if let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    apply(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        } else {
            *target = patch.clone();
        }
    }

    #[test]
    fn a_removed_field_becomes_null_and_a_changed_one_its_new_value() {
        let old = json!({"errorType": "registration error", "provisioning": {"state": "registering", "ID": ""}, "errorCount": 1});
        let new = json!({"provisioning": {"state": "inspecting", "ID": "u-1"}, "errorCount": 1, "poweredOn": true});
        let patch = merge_diff(&old, &new).unwrap();
        assert_eq!(
            patch,
            json!({"errorType": null, "provisioning": {"state": "inspecting", "ID": "u-1"}, "poweredOn": true})
        );
        let mut applied = old.clone();
        apply(&mut applied, &patch);
        assert_eq!(applied, new);
    }

    #[test]
    fn equal_documents_need_no_patch_and_arrays_are_replaced_whole() {
        assert_eq!(
            merge_diff(&json!({"a": [1, 2]}), &json!({"a": [1, 2]})),
            None
        );
        assert_eq!(
            merge_diff(&json!({"a": [1, 2]}), &json!({"a": [2]})),
            Some(json!({"a": [2]}))
        );
        assert_eq!(
            merge_diff(&Value::Null, &json!({"a": 1})),
            Some(json!({"a": 1}))
        );
    }
}
