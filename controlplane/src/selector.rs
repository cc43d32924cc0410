//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors
//! (`=`, `==`, `!=` on dotted paths such as `metadata.name` or `involvedObject.uid`).

use serde_json::Value;

use super::resource::Resource;
use super::status::ApiError;

/// A selector that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unable to parse requirement {requirement:?}: {reason}")]
pub struct SelectorError {
    pub requirement: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
enum LabelOp {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector (all requirements must hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<(String, LabelOp)>,
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn set_values(req: &str, rest: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or(SelectorError {
            requirement: req.to_string(),
            reason: "expected a parenthesised set",
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses the `labelSelector` query string form.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for req in split_top(s) {
            let err = |reason| SelectorError {
                requirement: req.clone(),
                reason,
            };
            let (key, op) = if let Some(k) = req.strip_prefix('!') {
                (k.trim().to_string(), LabelOp::NotExists)
            } else if let Some((k, v)) = req.split_once("!=") {
                (k.trim().to_string(), LabelOp::Ne(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once("==") {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = req.split_once('=') {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some((k, rest)) = req.split_once(" notin ") {
                (
                    k.trim().to_string(),
                    LabelOp::NotIn(set_values(&req, rest)?),
                )
            } else if let Some((k, rest)) = req.split_once(" in ") {
                (k.trim().to_string(), LabelOp::In(set_values(&req, rest)?))
            } else {
                (req.trim().to_string(), LabelOp::Exists)
            };
            if !valid_key(&key) {
                return Err(err("invalid label key"));
            }
            requirements.push((key, op));
        }
        Ok(Self { requirements })
    }

    /// True when the selector has no requirement (selects everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// True when the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|(k, op)| match op {
            LabelOp::Eq(v) => get(k) == Some(v.as_str()),
            LabelOp::Ne(v) => get(k) != Some(v.as_str()),
            LabelOp::In(vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelOp::NotIn(vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelOp::Exists => get(k).is_some(),
            LabelOp::NotExists => get(k).is_none(),
        })
    }
}

/// A parsed field selector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    requirements: Vec<(Vec<String>, bool, String)>,
}

fn field_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl FieldSelector {
    /// Parses the `fieldSelector` query string form.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for req in split_top(s) {
            let (path, eq, value) = if let Some((k, v)) = req.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = req.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = req.split_once('=') {
                (k, true, v)
            } else {
                return Err(SelectorError {
                    requirement: req.clone(),
                    reason: "expected field=value or field!=value",
                });
            };
            let path: Vec<String> = path.trim().split('.').map(str::to_string).collect();
            if path.iter().any(String::is_empty) {
                return Err(SelectorError {
                    requirement: req.clone(),
                    reason: "invalid field path",
                });
            }
            requirements.push((path, eq, value.trim().to_string()));
        }
        Ok(Self { requirements })
    }

    /// True when the selector has no requirement (selects everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The dotted field paths the selector compares.
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        self.requirements.iter().map(|(path, _, _)| path.join("."))
    }

    /// True when every field compares as required (missing fields read as the empty string).
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|(path, eq, value)| {
            let mut cur = Some(obj);
            for p in path {
                cur = cur.and_then(|c| c.get(p));
            }
            (field_text(cur) == *value) == *eq
        })
    }
}

/// The fields besides `metadata.name` and `metadata.namespace` a kind can be selected by, as
/// real servers register them; `None` for kinds with only those two.
fn extra_fields(res: &Resource) -> Option<&'static [&'static str]> {
    const EVENT: &[&str] = &[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ];
    const EVENTS_V1: &[&str] = &[
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ];
    match (res.group.as_str(), res.kind.as_str()) {
        _ if res.custom => Some(&[]),
        ("", "Event") => Some(EVENT),
        ("events.k8s.io", "Event") => Some(EVENTS_V1),
        ("", "Secret") => Some(&["type"]),
        ("", "Namespace") => Some(&["status.phase"]),
        ("", "Service") => Some(&["spec.clusterIP", "spec.type"]),
        _ => None,
    }
}

/// Refuses (400) a field selector on a field the kind cannot be selected by, with the message
/// real servers give: kinds with their own field list (and custom resources) say "field label
/// not supported", the others name the two fields every kind has.
pub fn check_fields(res: &Resource, selector: &FieldSelector) -> Result<(), ApiError> {
    let extra = extra_fields(res);
    for path in selector.paths() {
        if matches!(path.as_str(), "metadata.name" | "metadata.namespace")
            || extra.is_some_and(|e| e.contains(&path.as_str()))
        {
            continue;
        }
        return Err(ApiError::bad_request(match extra {
            Some(_) => format!("field label not supported: {path}"),
            None => format!(
                "\"{path}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            ),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_based_label_requirements_select_as_kubernetes_does() {
        let obj = json!({"metadata": {"labels": {"env": "prod", "tier": "db"}}});
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&obj);
        assert!(m("env=prod,tier in (db, web)"));
        assert!(m("env==prod,!missing"));
        assert!(!m("env!=prod"));
        assert!(!m("tier notin (db)"));
        assert!(m("tier"));
        assert!(!m("missing"));
    }

    #[test]
    fn field_selectors_read_dotted_paths() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}, "involvedObject": {"kind": "BareMetalHost"}});
        let m = |s: &str| FieldSelector::parse(s).unwrap().matches(&obj);
        assert!(m("metadata.name=a,metadata.namespace==ns"));
        assert!(m("involvedObject.kind=BareMetalHost"));
        assert!(!m("metadata.name!=a"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }

    #[test]
    fn field_selectors_are_refused_on_fields_the_kind_is_not_indexed_by() {
        let resources = crate::builtin::resources();
        let configmaps = resources.iter().find(|r| r.plural == "configmaps").unwrap();
        let secrets = resources.iter().find(|r| r.plural == "secrets").unwrap();
        let parse = |s: &str| FieldSelector::parse(s).unwrap();
        assert!(check_fields(configmaps, &parse("metadata.name=a")).is_ok());
        let err = check_fields(configmaps, &parse("data.a=b")).unwrap_err();
        assert_eq!((err.code, err.reason), (400, "BadRequest"));
        assert!(
            err.message.contains("is not a known field selector"),
            "{err}"
        );
        assert!(check_fields(secrets, &parse("type=Opaque")).is_ok());
        let err = check_fields(secrets, &parse("data.a=b")).unwrap_err();
        assert_eq!(err.message, "field label not supported: data.a");
    }
}
