//! Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch (applied
//! as a merge patch after dropping its `$` directives — a documented simplification); server-side
//! apply merges with field ownership in `super::fields`.

use serde_json::Value;

/// The patch kinds the control plane accepts (by Content-Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    /// The kind for a request Content-Type, None when unsupported (415).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// A patch that could not be decoded or applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("invalid patch body: {0}")]
    Decode(String),
    #[error("the JSON patch could not be applied: {0}")]
    Apply(String),
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Decodes a patch body: YAML for apply patches, JSON otherwise.
pub fn decode(kind: PatchKind, body: &[u8]) -> Result<Value, PatchError> {
    match kind {
        PatchKind::Apply => {
            serde_yaml::from_slice::<Value>(body).map_err(|e| PatchError::Decode(e.to_string()))
        }
        _ => serde_json::from_slice::<Value>(body).map_err(|e| PatchError::Decode(e.to_string())),
    }
}

/// Applies a decoded patch to a copy of `live`.
pub fn apply(kind: PatchKind, live: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut out = live.clone();
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(PatchError::Decode(
                    "a merge patch must be a JSON object".into(),
                ));
            }
            json_patch::merge(&mut out, patch);
        }
        PatchKind::Strategic => {
            let mut p = patch.clone();
            if !p.is_object() {
                return Err(PatchError::Decode(
                    "a strategic merge patch must be a JSON object".into(),
                ));
            }
            strip_directives(&mut p);
            json_patch::merge(&mut out, &p);
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| PatchError::Decode(e.to_string()))?;
            json_patch::patch(&mut out, &ops).map_err(|e| PatchError::Apply(e.to_string()))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_patches_merge_without_their_directives() {
        let live = json!({"spec": {"a": 1, "list": [1]}});
        let p = json!({"spec": {"b": 2, "$setElementOrder/list": [1]}});
        let out = apply(PatchKind::Strategic, &live, &p).unwrap();
        assert_eq!(out, json!({"spec": {"a": 1, "b": 2, "list": [1]}}));
    }

    #[test]
    fn json_patch_test_failure_is_an_error() {
        let live = json!({"a": 1});
        let p = json!([{"op": "test", "path": "/a", "value": 2}]);
        assert!(apply(PatchKind::Json, &live, &p).is_err());
    }

    #[test]
    fn merge_patch_null_removes_a_field() {
        let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let out = apply(
            PatchKind::Merge,
            &live,
            &json!({"metadata": {"labels": {"a": null}}}),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"labels": {"b": "2"}}}));
    }
}
