//! The verbs on a resource path and the options each write takes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::State;
use crate::collection;
use crate::deletion::Propagation;
use crate::lifecycle::{self, FieldValidation, WriteOptions, present};
use crate::patch::PatchKind;
use crate::resource::Resource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::table;

use super::json_response;
use super::target::parse_target;

/// Whether the client asks for a Table (`kubectl get`).
pub(crate) fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// `items` as a meta.k8s.io/v1 Table (what `kubectl get` asks for), with `includeObject` from the
/// query (default `Metadata`).
pub(crate) fn table_response(
    state: &State,
    res: &Resource,
    items: &[Value],
    meta: Value,
    query: &HashMap<String, String>,
) -> Response {
    let include = query
        .get("includeObject")
        .map(String::as_str)
        .unwrap_or("Metadata");
    json_response(
        200,
        &table::table(res, items, meta, include, state.now()),
        &[],
    )
}

/// The options of a write: `options` names the request's options kind in errors (`CreateOptions`,
/// `UpdateOptions`, `PatchOptions`, `DeleteOptions`). Without `fieldManager`, a write other than
/// an apply is managed by the User-Agent's product name, and unknown fields warn (the server
/// default since Kubernetes 1.27).
fn write_options(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    options: &str,
    apply: bool,
) -> Result<WriteOptions, ApiError> {
    let field_validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::invalid_options(
                options,
                "fieldValidation",
                "FieldValueNotSupported",
                &format!(
                    "Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
                ),
            ));
        }
    };
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::invalid_options(
                options,
                "dryRun",
                "FieldValueNotSupported",
                &format!("Unsupported value: [{other:?}]: supported values: \"All\""),
            ));
        }
    };
    let mut field_manager = query.get("fieldManager").filter(|m| !m.is_empty()).cloned();
    if field_manager.is_none() && !apply {
        field_manager = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|m| !m.is_empty())
            .map(str::to_string);
    }
    if apply && field_manager.is_none() {
        return Err(ApiError::invalid_options(
            options,
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch",
        ));
    }
    Ok(WriteOptions {
        dry_run,
        field_validation,
        field_manager,
        force: query.get("force").is_some_and(|f| f == "true" || f == "1"),
    })
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice::<Value>(body)
        .or_else(|_| serde_yaml::from_slice::<Value>(body))
        .map_err(|e| ApiError::bad_request(format!("the body could not be decoded: {e}")))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn resource_request(
    state: &Arc<State>,
    resources: &[Resource],
    group: &str,
    version: &str,
    rest: &[&str],
    method: &Method,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = parse_target(resources, group, version, rest)?;
    let res = &t.res;
    let ns = t.namespace.unwrap_or("");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // kubectl's generators (`create namespace|secret|configmap`) post protobuf.
    let body = if content_type.contains("protobuf") && matches!(*method, Method::POST | Method::PUT)
    {
        let obj = crate::protobuf::decode(&body)
            .map_err(|e| ApiError::new(415, "UnsupportedMediaType", e.to_string()))?;
        Bytes::from(obj.to_string())
    } else if content_type.contains("protobuf") || content_type.contains("cbor") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}); this control plane accepts JSON and YAML"
            ),
        ));
    } else {
        body
    };
    if let Some(sub) = t.sub {
        let allowed = (sub == "status" && res.status) || (sub == "scale" && res.scale.is_some());
        if !allowed {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!(
                    "the server could not find the requested resource ({sub} of {})",
                    res.qualified()
                ),
            ));
        }
    }
    let is_watch = query.get("watch").is_some_and(|w| w == "1" || w == "true");
    match (method.clone(), t.name, t.sub) {
        (Method::GET, None, None) if is_watch => {
            collection::watch_request(state, res, t.namespace, query, headers)
        }
        (Method::GET, None, None) => collection::list(state, res, t.namespace, query, headers),
        (Method::GET, Some(name), Some("scale")) => {
            let obj = get_object(state, res, ns, name)?;
            Ok(json_response(200, &crate::scale::scale_of(res, &obj), &[]))
        }
        (Method::GET, Some(name), _) => {
            let obj = get_object(state, res, ns, name)?;
            if wants_table(headers) {
                let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)});
                return Ok(table_response(state, res, &[obj], meta, query));
            }
            Ok(json_response(200, &obj, &[]))
        }
        (Method::POST, None, None) => {
            if res.namespaced && t.namespace.is_none() {
                return Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "create requires a namespace in the path",
                ));
            }
            let opts = write_options(query, headers, "CreateOptions", false)?;
            let w = lifecycle::create(state, res, ns, parse_body(&body)?, &opts)?;
            Ok(json_response(201, &w.object, &w.warnings))
        }
        (Method::PUT, Some(name), Some("scale")) => {
            let scale = parse_body(&body)?;
            write_scale(state, res, ns, name, &scale, query, headers)
        }
        (Method::PUT, Some(name), sub) => {
            let opts = write_options(query, headers, "UpdateOptions", false)?;
            let w = lifecycle::update(
                state,
                res,
                ns,
                name,
                parse_body(&body)?,
                sub,
                &opts,
                "Update",
            )?;
            Ok(json_response(
                if w.created { 201 } else { 200 },
                &w.object,
                &w.warnings,
            ))
        }
        (Method::PATCH, Some(name), sub) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // Custom resources have no strategic merge keys: real servers refuse the type.
            let kind = PatchKind::from_content_type(ct)
                .filter(|k| !(res.custom && *k == PatchKind::Strategic))
                .ok_or_else(|| unsupported_patch(res))?;
            if sub == Some("scale") {
                let obj = get_object(state, res, ns, name)?;
                let current = crate::scale::scale_of(res, &obj);
                let decoded = crate::patch::decode(kind, &body)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let patched = crate::patch::apply(kind, &current, &decoded)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                return write_scale(state, res, ns, name, &patched, query, headers);
            }
            let opts = write_options(query, headers, "PatchOptions", kind == PatchKind::Apply)?;
            let w = lifecycle::patch(state, res, ns, name, kind, &body, sub, &opts)?;
            Ok(json_response(
                if w.created { 201 } else { 200 },
                &w.object,
                &w.warnings,
            ))
        }
        (Method::DELETE, Some(name), None) => {
            let options = if body.is_empty() {
                Value::Null
            } else {
                parse_body(&body)?
            };
            let policy = match options
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .or(query.get("propagationPolicy").map(String::as_str))
            {
                Some("Orphan") => Propagation::Orphan,
                Some("Foreground") => Propagation::Foreground,
                _ if options.get("orphanDependents").and_then(Value::as_bool) == Some(true) => {
                    Propagation::Orphan
                }
                _ => Propagation::Background,
            };
            let uid = options
                .pointer("/preconditions/uid")
                .and_then(Value::as_str);
            let dry_run = write_options(query, headers, "DeleteOptions", false)?.dry_run
                || options
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|x| x == "All"));
            let deleted = crate::deletion::delete(state, res, ns, name, policy, uid, dry_run)?;
            // Gone at once: a Status; still there (finalizers): the object being deleted.
            let answer = if deleted.gone {
                crate::status::deleted(res, name, lifecycle::meta_str(&deleted.object, "uid"))
            } else {
                deleted.object
            };
            Ok(json_response(200, &answer, &[]))
        }
        (Method::DELETE, None, None) if !res.verbs().contains(&"deletecollection") => {
            Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ))
        }
        (Method::DELETE, None, None) => {
            let labels =
                LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let fields =
                FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let dry_run = write_options(query, headers, "DeleteOptions", false)?.dry_run;
            let (items, _) = collection::select(state, res, t.namespace, &labels, &fields)?;
            let mut deleted = Vec::new();
            for obj in items {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let ns = obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                deleted.push(
                    crate::deletion::delete(
                        state,
                        res,
                        &ns,
                        &name,
                        Propagation::Background,
                        None,
                        dry_run,
                    )?
                    .object,
                );
            }
            Ok(json_response(
                200,
                &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {}, "items": deleted}),
                &[],
            ))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on this path"),
        )),
    }
}

/// 415 for a patch type the resource does not take.
fn unsupported_patch(res: &Resource) -> ApiError {
    let mut accepted = vec![
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if !res.custom {
        accepted.push("application/strategic-merge-patch+json");
    }
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}

fn get_object(state: &State, res: &Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
    let objects = state
        .objects
        .lock()
        .map_err(|_| ApiError::new(500, "InternalError", "lock poisoned"))?;
    let key = crate::store::Key::new(&res.storage, if res.namespaced { ns } else { "" }, name);
    objects
        .get(&key)
        .map(|o| present(res, o))
        .ok_or_else(|| ApiError::not_found(res, name))
}

fn write_scale(
    state: &Arc<State>,
    res: &Resource,
    ns: &str,
    name: &str,
    scale: &Value,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?;
    if replicas < 0 {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
            ),
        ));
    }
    let path = res
        .scale
        .as_ref()
        .map(|p| p.spec_replicas.clone())
        .unwrap_or_default();
    let pointer: String = path
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| format!("/{s}"))
        .collect();
    let mut obj = get_object(state, res, ns, name)?;
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        obj["metadata"]["resourceVersion"] = json!(rv);
    }
    crate::scale::set_pointer(&mut obj, &pointer, json!(replicas));
    let opts = write_options(query, headers, "UpdateOptions", false)?;
    let w = lifecycle::update(state, res, ns, name, obj, Some("scale"), &opts, "Update")?;
    Ok(json_response(
        200,
        &crate::scale::scale_of(res, &w.object),
        &w.warnings,
    ))
}
