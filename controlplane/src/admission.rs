//! What every write passes before it is stored (built into the control plane; admission
//! webhooks are not called): the body's kind and version, the shape rules of built-in kinds and
//! their strict decoding, the structural schema of custom objects (pruning, defaulting,
//! validation), unknown fields reported under `fieldValidation`, and metadata tidied as real
//! servers store it.

use serde_json::Value;

use super::builtin::{self, FieldError};
use super::crd;
use super::known_fields;
use super::lifecycle::{FieldValidation, WriteOptions, meta_str};
use super::resource::Resource;
use super::status::ApiError;

/// Refuses a body of another kind or version than the path's (custom objects must name theirs).
pub(super) fn check_type(res: &Resource, body: &Value) -> Result<(), ApiError> {
    if let Some(v) = body.get("apiVersion").and_then(Value::as_str)
        && v != res.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    match body.get("kind").and_then(Value::as_str) {
        Some(k) if k == res.kind => Ok(()),
        None if !res.custom => Ok(()),
        None => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): Object 'Kind' is missing in '{body}'",
            res.kind
        ))),
        Some(k) if res.custom => {
            let name = meta_str(body, "name").unwrap_or_default();
            let mut e = ApiError::invalid(
                res,
                name,
                &[FieldError::invalid(
                    "kind",
                    format!("Invalid value: {k:?}: must be {}", res.kind),
                )],
            );
            // Named after the kind the body claims, as real servers name it.
            e.message = e.message.replacen(&res.kind, k, 1);
            if let Some(d) = e.details.as_mut() {
                d["kind"] = Value::from(k);
            }
            Err(e)
        }
        Some(k) => Err(ApiError::bad_request(format!(
            "{k} in version \"{v}\" cannot be handled as a {kind}: converting ({v}.{k}) to ({kind}): unknown conversion",
            v = res.version,
            kind = res.kind
        ))),
    }
}

/// Checks the shape (built-ins) or schema (custom resources) of `obj`, pruning and defaulting
/// custom objects; returns warnings for `fieldValidation=Warn`.
pub(super) fn admit(
    res: &Resource,
    obj: &mut Value,
    name: &str,
    opts: &WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let mut warnings = Vec::new();
    let mut errors: Vec<FieldError> = Vec::new();
    tidy_metadata(obj);
    if let Some(labels) = obj.pointer("/metadata/labels")
        && !labels.is_null()
        && !labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    {
        errors.push(FieldError::invalid(
            "metadata.labels",
            "label values must be strings",
        ));
    }
    if let Some(schema) = &res.schema {
        let mut unknown = unknown_metadata(obj);
        crd::prune(schema, obj, "", true, &mut unknown);
        report_unknown(res, &unknown, opts, &mut warnings)?;
        crd::default(schema, obj);
        crd::validate(schema, obj, "", &mut errors);
    } else if !res.custom {
        check_micro_times(res, obj)?;
        errors.extend(builtin::admit(&res.kind, obj));
        if errors.is_empty() {
            let unknown = known_fields::unknown(&res.kind, obj).map_err(|e| {
                ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
                    kind = res.kind,
                    version = res.version
                ))
            })?;
            for path in &unknown {
                known_fields::remove(obj, path);
            }
            let names: Vec<String> = unknown.iter().map(|p| known_fields::display(p)).collect();
            report_unknown(res, &names, opts, &mut warnings)?;
        }
    }
    if res.kind == "CustomResourceDefinition"
        && let Err(e) = crd::resources(obj)
    {
        errors.push(FieldError::invalid("spec", e.reason));
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(ApiError::invalid(res, name, &errors))
    }
}

/// Drops empty label, annotation, finalizer and owner-reference collections (real servers do
/// not keep them).
fn tidy_metadata(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
        let empty = match meta.get(key) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Null) => true,
            _ => false,
        };
        if empty {
            meta.remove(key);
        }
    }
}

/// Unknown `metadata` fields of a custom object (dropped; reported like the schema's own).
fn unknown_metadata(obj: &mut Value) -> Vec<String> {
    let Some(meta) = obj.get("metadata").filter(|m| m.is_object()).cloned() else {
        return Vec::new();
    };
    let Ok(paths) = known_fields::unknown("ObjectMeta", &meta) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in paths {
        if let Some(m) = obj.get_mut("metadata") {
            known_fields::remove(m, &path);
        }
        out.push(format!("metadata.{}", known_fields::display(&path)));
    }
    out
}

/// `MicroTime` fields are decoded strictly by real servers: six fractional digits, no fewer.
fn check_micro_times(res: &Resource, obj: &Value) -> Result<(), ApiError> {
    let pointers: &[&str] = match (res.kind.as_str(), res.group.as_str()) {
        ("Lease", _) => &["/spec/acquireTime", "/spec/renewTime"],
        ("Event", _) => &["/eventTime", "/series/lastObservedTime"],
        _ => &[],
    };
    for pointer in pointers {
        let Some(text) = obj.pointer(pointer).and_then(Value::as_str) else {
            continue;
        };
        let bytes = text.as_bytes();
        let micro = bytes.len() > 26
            && bytes[19] == b'.'
            && bytes[20..26].iter().all(u8::is_ascii_digit)
            && chrono::DateTime::parse_from_rfc3339(text).is_ok();
        if !micro {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: parsing time {text:?} as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse {rest:?} as \".000000\"",
                kind = res.kind,
                version = res.version,
                rest = text.get(19..).unwrap_or_default(),
            )));
        }
    }
    Ok(())
}

/// Unknown (dropped) fields: an error under `fieldValidation=Strict`, warnings under `Warn`.
fn report_unknown(
    res: &Resource,
    unknown: &[String],
    opts: &WriteOptions,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if unknown.is_empty() {
        return Ok(());
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field \"{u}\""))
        .collect();
    match opts.field_validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", "),
            kind = res.kind,
            version = res.version
        ))),
        FieldValidation::Warn => {
            warnings.extend(messages);
            Ok(())
        }
        FieldValidation::Ignore => Ok(()),
    }
}
