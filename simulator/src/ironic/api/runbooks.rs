//! Runbook routes (from 1.92): create, list (paged, `detail`, `fields`, `project`), show by UUID
//! or name, JSON patch, delete, and from 1.112 their traits (`/v1/runbooks/{id}/traits[/{trait}]`)
//! — with Ironic 39's validation order and texts under noauth (no project: a create naming an
//! owner is refused, `project=true` lists the public runbooks only). The schema, the step rules (shared with deploy
//! templates), the owner/public rule and the traits' set are the model's (`model::runbook`).

use super::nodes::{body_object, bool_of};
use super::paging::{Columns, Listing, NextQuery, Paging, PagingQuery, Sortable};
use super::traits::{body_traits, check_name};
use super::{AppState, Ctx, Store, json_response, parse_fields, query_pairs};
use crate::ironic::encoding::{Doc, python_repr};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    RUNBOOK_STEPS, RUNBOOK_TRAITS_VERSION, RUNBOOKS_VERSION, Runbook, RunbookNames,
    RunbookTraitChange, Shape, checked_steps, duplicate_steps, is_valid_logical_name,
    owner_refusal, runbook_fields, runbook_schema_problem, runbook_traits, step_problem,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Map, Value};
use uuid::Uuid;

const COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "name",
        "description",
        "public",
        "owner",
        "disable_ramdisk",
        "extra",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &["extra", "steps", "traits"],
};

const PATCHABLE: [&str; 6] = [
    "disable_ramdisk",
    "extra",
    "name",
    "owner",
    "public",
    "steps",
];

const OWNER_REFUSED: &str =
    "Cannot create a runbook as a project scoped admin with an owner other than your own project.";

const ONE_OR_ALL: &str = "A single runbook trait may be added via PUT /v1/runbooks/<runbook identifier>/traits/<trait> with no body, or all runbook traits may be replaced via PUT /v1/runbooks/<runbook identifier>/traits with the list of traits specified in the request body.";

/// Below 1.92 the routes answer 404 to a read and 405 to anything else, in the framework's
/// envelope.
fn gate(ctx: &Ctx, method: &Method) -> Result<(), ApiError> {
    super::crud::version_gate(ctx, method, RUNBOOKS_VERSION, "runbooks")
        .map_err(|(status, text)| ApiError::Framework(status, text))
}

fn not_found(ident: &str) -> ApiError {
    ApiError::NotFoundText(format!("Runbook {ident} could not be found."))
}

/// The runbook `ident` names: a UUID or a logical name (400 otherwise) that exists (404).
fn find<'a>(store: &'a Store, ident: &str) -> Result<&'a Runbook, ApiError> {
    let by_uuid = super::crud::uuid_or_name(ident, "runbook_ident")?;
    store
        .runbooks
        .values()
        .find(|r| Some(r.uuid) == by_uuid || r.name == ident)
        .ok_or_else(|| not_found(ident))
}

fn render(r: &Runbook, ctx: &Ctx, shape: &Shape) -> Doc {
    let mut d = r.document(&ctx.base, ctx.version);
    match shape {
        Shape::Detail => {}
        Shape::List => d.retain_keys(&["uuid".into(), "name".into(), "links".into()]),
        Shape::Fields(f) => {
            let mut keep = f.clone();
            keep.push("links".into());
            d.retain_keys(&keep);
        }
    }
    d
}

fn fields_of(ctx: &Ctx, raw: &str) -> Result<Shape, ApiError> {
    let known: Vec<String> = runbook_fields(ctx.version)
        .into_iter()
        .map(str::to_string)
        .collect();
    parse_fields(raw, &known)
}

fn sortable(r: &Runbook, paging: &Paging) -> Sortable {
    let value = match paging.sort_key.as_str() {
        "" | "id" => Value::Null,
        column => r
            .document("", crate::ironic::version::MAX)
            .get(column)
            .cloned()
            .unwrap_or(Value::Null),
    };
    Sortable { value, seq: r.id }
}

/// `args.boolean`'s refusal, naming the parameter.
fn flag(name: &str, v: &str) -> Result<bool, ApiError> {
    bool_of(v).map_err(|e| ApiError::BadRequest(format!("Invalid {name}: {e}")))
}

fn list(s: &AppState, ctx: &Ctx, q: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx, &Method::GET)?;
    let mut shape = Shape::List;
    let mut paging = PagingQuery::default();
    let mut marker: Option<String> = None;
    let mut fields: Option<String> = None;
    let mut detail: Option<bool> = None;
    let mut project = false;
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            // A name's form is asked of the marker, then it is looked up by UUID.
            "marker" if !is_valid_logical_name(&v) => {
                return Err(ApiError::BadRequest(format!(
                    "Expected name for marker: {v}"
                )));
            }
            "marker" => marker = Some(v),
            "fields" => {
                shape = fields_of(ctx, &v)?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" => detail = Some(flag("detail", &v)?),
            "project" => project = flag("project", &v)?,
            _ if paging.take(&k, &v) => {}
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    if detail == Some(true) {
        if fields.is_some() {
            return Err(ApiError::BadRequest(
                "Can not specify ?detail=True and fields in the same request.".into(),
            ));
        }
        shape = Shape::Detail;
    }
    let paging = paging.check()?;
    paging.refuse_json_key(&COLUMNS)?;
    let store = s.lock();
    let marker_at = match &marker {
        Some(m) => Some(
            Uuid::parse_str(m)
                .ok()
                .and_then(|u| store.runbooks.get(&u))
                .ok_or_else(|| not_found(m))?,
        ),
        None => None,
    };
    let marker_at = marker_at.map(|r| sortable(r, &paging));
    paging.refuse_unknown_key(&COLUMNS)?;
    // `project=true` lists the caller's project's runbooks and the public ones; noauth callers
    // have no project.
    let all: Vec<&Runbook> = store
        .runbooks
        .values()
        .filter(|r| !project || r.public)
        .collect();
    let page = paging.page(all, |r| sortable(r, &paging), marker_at);
    let items: Vec<Doc> = page.iter().map(|r| render(r, ctx, &shape)).collect();
    let uuids: Vec<Uuid> = page.iter().map(|r| r.uuid).collect();
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: "runbooks",
            detail_endpoint: false,
            detail_asked: detail,
            filters: Vec::new(),
            fields,
            default_fields: "uuid,name",
        },
        &uuids,
    );
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "runbooks",
            items,
            next,
        },
    ))
}

fn show(s: &AppState, ctx: &Ctx, ident: &str, q: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx, &Method::GET)?;
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "fields" => shape = fields_of(ctx, &v)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let store = s.lock();
    let r = find(&store, ident)?;
    Ok(json_response(StatusCode::OK, &render(r, ctx, &shape)))
}

/// The schema (`what` names the document), the duplicate-step rule, then the UUID's form.
fn validate(
    doc: &Map<String, Value>,
    what: &str,
    names: RunbookNames,
    newer: bool,
) -> Result<(), ApiError> {
    if let Some(p) = runbook_schema_problem(doc, names, newer) {
        return Err(ApiError::BadRequest(format!(
            "Schema error for {what}: {p}"
        )));
    }
    if let Some(text) = duplicate_steps(&checked_steps(&doc["steps"], RUNBOOK_STEPS)) {
        return Err(ApiError::BadRequest(text));
    }
    if let Some(u) = doc.get("uuid").and_then(Value::as_str)
        && Uuid::parse_str(u).is_err()
    {
        return Err(ApiError::BadRequest(format!("Expected UUID for uuid: {u}")));
    }
    Ok(())
}

fn refuse_duplicate_name(store: &Store, r: &Runbook) -> Result<(), ApiError> {
    if store
        .runbooks
        .values()
        .any(|o| o.uuid != r.uuid && o.name == r.name)
    {
        return Err(ApiError::Conflict(format!(
            "A runbook with name {} already exists.",
            r.name
        )));
    }
    Ok(())
}

fn create(s: &AppState, ctx: &Ctx, body: &Bytes) -> Result<Response, ApiError> {
    gate(ctx, &Method::POST)?;
    let req = body_object(body, "runbook")?;
    let newer = ctx.version.at_least(RUNBOOK_TRAITS_VERSION);
    let names = if newer {
        RunbookNames::Logical
    } else {
        RunbookNames::Trait
    };
    validate(&req, "runbook", names, newer)?;
    if req
        .get("owner")
        .and_then(Value::as_str)
        .is_some_and(|o| !o.is_empty())
    {
        return Err(ApiError::BadRequest(OWNER_REFUSED.into()));
    }
    let now = s.now();
    let mut store = s.lock();
    let uuid = match req.get("uuid").and_then(Value::as_str) {
        Some(u) => Uuid::parse_str(u)
            .map_err(|_| ApiError::BadRequest(format!("Expected UUID for uuid: {u}")))?,
        None => store.new_uuid(),
    };
    if store.runbooks.contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "A runbook with UUID {uuid} already exists."
        )));
    }
    let cap = store.conductor.settings().max_nodes;
    if store.runbooks.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Runbook limit exceeded: this service holds at most {cap}."
        )));
    }
    let mut r = Runbook::from_checked(0, uuid, &req, now);
    // Under noauth the owner is the caller's project: none.
    r.owner = None;
    refuse_duplicate_name(&store, &r)?;
    r.id = store.next_runbook_id();
    let doc = r.document(&ctx.base, ctx.version);
    store.runbooks.insert(uuid, r);
    let mut resp = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/runbooks/{uuid}", ctx.base)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The values a patch adds or replaces at `path`.
fn patch_values(ops: &[Value], path: &str) -> Vec<Value> {
    ops.iter()
        .filter(|op| op["path"] == path && op["op"] != "remove")
        .map(|op| op.get("value").cloned().unwrap_or(Value::Null))
        .collect()
}

fn patch(s: &AppState, ctx: &Ctx, ident: &str, body: &Bytes) -> Result<Response, ApiError> {
    gate(ctx, &Method::PATCH)?;
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON request body: {e}")))?;
    let Value::Array(raw_ops) = &raw else {
        return Err(ApiError::BadRequest(format!(
            "Schema error for patch: {} is not of type 'array'",
            python_repr(&raw)
        )));
    };
    let ops: json_patch::Patch = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    let mut allowed = PATCHABLE.to_vec();
    if ctx.version.at_least(RUNBOOK_TRAITS_VERSION) {
        allowed.push("description");
    }
    for op in &ops.0 {
        let path = op.path().to_string();
        let top = path.split('/').nth(1).unwrap_or("");
        if !allowed.contains(&top) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                allowed.join(", ")
            )));
        }
    }
    let now = s.now();
    let mut store = s.lock();
    let current = find(&store, ident)?.clone();
    let publics = patch_values(raw_ops, "/public");
    if let Some(reason) = owner_refusal(current.public, &patch_values(raw_ops, "/owner"), &publics)
    {
        return Err(ApiError::BadRequest(format!(
            "Couldn't apply patch '{}'. Reason: {reason}",
            python_repr(&raw)
        )));
    }
    let mut view = current.patch_view();
    if !publics.is_empty() {
        view["owner"] = Value::Null;
    }
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Some(p) = view["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find_map(|st| step_problem(st, RUNBOOK_STEPS)))
    {
        return Err(ApiError::BadRequest(format!("Schema error for patch: {p}")));
    }
    let doc = view.as_object().cloned().unwrap_or_default();
    validate(&doc, "patch", RunbookNames::Logical, true)?;
    let mut updated = Runbook::from_checked(current.id, current.uuid, &doc, current.created_at);
    updated.traits = current.traits.clone();
    refuse_duplicate_name(&store, &updated)?;
    updated.updated_at = Some(now);
    let answer = updated.document(&ctx.base, ctx.version);
    store.runbooks.insert(updated.uuid, updated);
    Ok(json_response(StatusCode::OK, &answer))
}

fn delete(s: &AppState, ctx: &Ctx, ident: &str) -> Result<Response, ApiError> {
    gate(ctx, &Method::DELETE)?;
    let mut store = s.lock();
    let uuid = find(&store, ident)?.uuid;
    store.runbooks.remove(&uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The traits routes' gates: runbooks (1.92), then their traits (1.112, 404 whatever the method).
fn traits_gate(ctx: &Ctx, method: &Method) -> Result<(), ApiError> {
    gate(ctx, method)?;
    if ctx.version.at_least(RUNBOOK_TRAITS_VERSION) {
        return Ok(());
    }
    Err(ApiError::Framework(
        StatusCode::NOT_FOUND,
        "The API version does not allow runbook traits".into(),
    ))
}

/// Applies `change` to the runbook `ident` names.
fn change_traits(s: &AppState, ident: &str, change: RunbookTraitChange) -> Result<(), ApiError> {
    let mut store = s.lock();
    let uuid = find(&store, ident)?.uuid;
    if let Some(r) = store.runbooks.get_mut(&uuid) {
        r.traits = runbook_traits(&r.traits, change);
    }
    Ok(())
}

/// `GET /v1/runbooks/{id}/traits`.
async fn traits_list(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
) -> Result<Response, ApiError> {
    traits_gate(&ctx, &Method::GET)?;
    let store = s.lock();
    let r = find(&store, &ident)?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "traits": r.traits }),
    ))
}

/// `PUT /v1/runbooks/{id}/traits` with `{"traits": [...]}`: replaces them all.
async fn traits_replace(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    traits_gate(&ctx, &Method::PUT)?;
    let asked = body_traits(&body)?;
    find(&s.lock(), &ident)?;
    let Some(Some(all)) = asked else {
        return Err(ApiError::BadRequest(ONE_OR_ALL.into()));
    };
    change_traits(&s, &ident, RunbookTraitChange::Replace(all))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /v1/runbooks/{id}/traits/{trait}` (no body, or one without `traits`): adds one.
async fn traits_add(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    traits_gate(&ctx, &Method::PUT)?;
    check_name(&Value::String(name.clone()), "trait")?;
    let asked = body_traits(&body)?;
    find(&s.lock(), &ident)?;
    if matches!(asked, Some(Some(_))) {
        return Err(ApiError::BadRequest(ONE_OR_ALL.into()));
    }
    change_traits(&s, &ident, RunbookTraitChange::Add(name.clone()))?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let at = format!("{}/v1/runbooks/{ident}/traits/{name}", ctx.base);
    if let Ok(v) = HeaderValue::from_str(&at) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `DELETE /v1/runbooks/{id}/traits`: removes them all.
async fn traits_clear(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(ident): Path<String>,
) -> Result<Response, ApiError> {
    traits_gate(&ctx, &Method::DELETE)?;
    change_traits(&s, &ident, RunbookTraitChange::Clear)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/runbooks/{id}/traits/{trait}`: removes one (nothing when the runbook lacks it).
async fn traits_remove(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    traits_gate(&ctx, &Method::DELETE)?;
    change_traits(&s, &ident, RunbookTraitChange::Remove(name))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The runbook routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    super::crud::routes(
        "runbooks",
        super::crud::Crud {
            list,
            create,
            show,
            patch,
            delete,
        },
    )
    .route(
        "/v1/runbooks/{ident}/traits",
        get(traits_list)
            .put(traits_replace)
            .delete(traits_clear)
            .fallback(refused),
    )
    .route(
        "/v1/runbooks/{ident}/traits/{name}",
        MethodRouter::new()
            .put(traits_add)
            .delete(traits_remove)
            .fallback(refused),
    )
}

/// Any other method on these routes: the framework's 405.
async fn refused() -> ApiError {
    ApiError::method_not_allowed()
}
