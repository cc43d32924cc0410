//! API errors as `metav1.Status` bodies with the reason and code real servers use.

use serde_json::{Value, json};

use super::builtin::FieldError;
use super::resource::Resource;

/// A failed request: HTTP code, Status reason, message and optional details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Answered as plain text (`404 page not found`), as real servers answer a path that names
    /// no API at all.
    pub plain: bool,
}

/// `details` naming an object: the core group is omitted, as real servers omit it.
fn object_details(res: &Resource, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": res.plural});
    if !res.group.is_empty() {
        d["group"] = json!(res.group);
    }
    d
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            plain: false,
        }
    }

    /// A path that is no API (unknown group, version or resource): plain text, no Status.
    pub fn no_route() -> Self {
        Self {
            plain: true,
            ..Self::new(404, "NotFound", "404 page not found")
        }
    }

    /// Invalid request options (`CreateOptions`, `PatchOptions`, …): 422 naming the option.
    pub fn invalid_options(kind: &str, field: &str, reason: &'static str, detail: &str) -> Self {
        Self {
            details: Some(json!({"group": "meta.k8s.io", "kind": kind,
                "causes": [{"reason": reason, "message": detail, "field": field}]})),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind}.meta.k8s.io \"\" is invalid: {field}: {detail}"),
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found(res: &Resource, name: &str) -> Self {
        Self {
            details: Some(object_details(res, name)),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", res.qualified()),
            )
        }
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        Self {
            details: Some(json!({"name": ns, "kind": "namespaces"})),
            ..Self::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
        }
    }

    pub fn already_exists(res: &Resource, name: &str) -> Self {
        Self {
            details: Some(object_details(res, name)),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", res.qualified()),
            )
        }
    }

    /// A create refused by the per-resource object cap, in the words of a ResourceQuota's
    /// object-count refusal (the quota named `object-cap`).
    pub fn exceeded_quota(res: &Resource, name: &str, used: usize, limit: usize) -> Self {
        let counted = format!("count/{}", res.qualified());
        Self {
            details: Some(object_details(res, name)),
            ..Self::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{name}\" is forbidden: exceeded quota: object-cap, requested: {counted}=1, used: {counted}={used}, limited: {counted}={limit}",
                    res.qualified()
                ),
            )
        }
    }

    pub fn conflict(res: &Resource, name: &str) -> Self {
        Self {
            details: Some(object_details(res, name)),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    res.qualified()
                ),
            )
        }
    }

    /// 422 Invalid from validation (`BareMetalHost.metal3.io "x" is invalid: …`).
    pub fn invalid(res: &Resource, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_as(res, &res.qualified_kind(), &res.kind, name, errors)
    }

    /// 422 Invalid from the generic registry's checks, which name the resource instead of the kind
    /// (`baremetalhosts.metal3.io "x" is invalid: metadata.resourceVersion: …`).
    pub fn invalid_resource(res: &Resource, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_as(res, &res.qualified(), &res.plural, name, errors)
    }

    fn invalid_as(
        res: &Resource,
        title: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> Self {
        let parts: Vec<String> = errors
            .iter()
            .map(|e| {
                if e.field.is_empty() {
                    e.message.clone()
                } else {
                    format!("{}: {}", e.field, e.message)
                }
            })
            .collect();
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
            .collect();
        let message = if parts.len() == 1 {
            format!("{title} \"{name}\" is invalid: {}", parts[0])
        } else {
            format!("{title} \"{name}\" is invalid: [{}]", parts.join(", "))
        };
        let mut details = json!({"name": name, "kind": kind, "causes": causes});
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        Self {
            details: Some(details),
            ..Self::new(422, "Invalid", message)
        }
    }

    /// 409 from a server-side apply that would change fields other managers own.
    pub fn apply_conflicts(message: String, causes: Value) -> Self {
        Self {
            details: Some(json!({"causes": causes})),
            ..Self::new(409, "Conflict", message)
        }
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// A read at a resourceVersion the store has not reached (real servers first wait up to three
    /// seconds for it to arrive; this answers at once).
    pub fn too_large_resource_version(asked: u64, current: u64) -> Self {
        Self {
            details: Some(json!({
                "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                "retryAfterSeconds": 1
            })),
            ..Self::new(
                504,
                "Timeout",
                format!("Timeout: Too large resource version: {asked}, current: {current}"),
            )
        }
    }

    /// The Status body.
    pub fn body(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// The `Status Success` a delete answers when the object is removed at once.
pub fn deleted(res: &Resource, name: &str, uid: Option<&str>) -> Value {
    let mut details = object_details(res, name);
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
