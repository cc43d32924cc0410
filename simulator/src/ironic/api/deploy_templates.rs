//! Deploy template routes (from 1.55): create, list (paged, `detail`, `fields`), show by UUID or
//! name, JSON patch, delete — with Ironic 39's validation order and texts. The schema, the
//! duplicate-step rule and what templates contribute to a deployment are the model's
//! (`model::deploy_template`).

use super::nodes::{body_object, bool_of};
use super::paging::{Columns, Listing, NextQuery, Paging, PagingQuery, Sortable, schema_fields};
use super::{AppState, Ctx, Store, json_response, query_pairs};
use crate::ironic::encoding::Doc;
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    DEPLOY_TEMPLATE_FIELDS, DeployTemplate, Shape, duplicate_steps, echoed_steps,
    template_schema_problem,
};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The microversion deploy templates appeared in.
const TEMPLATES_VERSION: u32 = 55;

const COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "uuid",
        "name",
        "extra",
        "version",
        "created_at",
        "updated_at",
    ],
    refused: &["extra", "steps"],
};

const PATCHABLE: [&str; 4] = ["extra", "name", "steps", "description"];

/// Below 1.55 the routes answer 404 to a read and 405 to anything else, in the framework's
/// envelope.
fn gate(ctx: &Ctx, method: &Method) -> Result<(), ApiError> {
    super::crud::version_gate(ctx, method, TEMPLATES_VERSION, "deploy templates")
        .map_err(|(status, text)| ApiError::Framework(status, text))
}

fn not_found(ident: &str) -> ApiError {
    ApiError::NotFoundText(format!("Deploy template {ident} could not be found."))
}

/// The template `ident` names: a UUID or a logical name (400 otherwise) that exists (404).
fn find<'a>(store: &'a Store, ident: &str) -> Result<&'a DeployTemplate, ApiError> {
    let by_uuid = super::crud::uuid_or_name(ident, "template_ident")?;
    store
        .deploy_templates
        .values()
        .find(|t| Some(t.uuid) == by_uuid || t.name == ident)
        .ok_or_else(|| not_found(ident))
}

fn sortable(t: &DeployTemplate, paging: &Paging) -> Sortable {
    let value = match paging.sort_key.as_str() {
        "" | "id" => Value::Null,
        column => t.document("").get(column).cloned().unwrap_or(Value::Null),
    };
    Sortable { value, seq: t.id }
}

fn list(s: &AppState, ctx: &Ctx, q: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx, &Method::GET)?;
    let mut shape = Shape::List;
    let mut paging = PagingQuery::default();
    let mut marker: Option<String> = None;
    let mut fields: Option<String> = None;
    let mut detail: Option<bool> = None;
    for (k, v) in query_pairs(q) {
        // The marker's form is a name's here, not a UUID's.
        if k == "marker" {
            marker = Some(v);
            continue;
        }
        if paging.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "fields" => {
                shape = schema_fields(&v, &DEPLOY_TEMPLATE_FIELDS)?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" => detail = Some(bool_of(&v)?),
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
    let store = s.lock();
    // The marker may be written as a name, but Ironic 39 finds it by UUID only.
    let marker_at = match &marker {
        Some(m) => Some(
            Uuid::parse_str(m)
                .ok()
                .and_then(|u| store.deploy_templates.get(&u))
                .ok_or_else(|| not_found(m))?,
        ),
        None => None,
    };
    let marker_at = marker_at.map(|t| sortable(t, &paging));
    paging.refuse_json_key(&COLUMNS)?;
    paging.refuse_unknown_key(&COLUMNS)?;
    let all: Vec<&DeployTemplate> = store.deploy_templates.values().collect();
    let page = paging.page(all, |t| sortable(t, &paging), marker_at);
    let items: Vec<Doc> = page.iter().map(|t| render(t, &ctx.base, &shape)).collect();
    let uuids: Vec<Uuid> = page.iter().map(|t| t.uuid).collect();
    let next = paging.next_of(
        &ctx.base,
        &NextQuery {
            collection: "deploy_templates",
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
            name: "deploy_templates",
            items,
            next,
        },
    ))
}

fn render(t: &DeployTemplate, base: &str, shape: &Shape) -> Doc {
    let mut d = t.document(base);
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

fn show(s: &AppState, ctx: &Ctx, ident: &str, q: Option<&str>) -> Result<Response, ApiError> {
    gate(ctx, &Method::GET)?;
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "fields" => shape = schema_fields(&v, &DEPLOY_TEMPLATE_FIELDS)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    let store = s.lock();
    let t = find(&store, ident)?;
    Ok(json_response(StatusCode::OK, &render(t, &ctx.base, &shape)))
}

/// The schema (`what` names the document), the duplicate-step rule, then the UUID's form.
fn validate(doc: &Map<String, Value>, what: &str) -> Result<(), ApiError> {
    if let Some(p) = template_schema_problem(doc) {
        return Err(ApiError::BadRequest(format!(
            "Schema error for {what}: {p}"
        )));
    }
    let probe = DeployTemplate::from_checked(0, Uuid::nil(), doc, chrono::DateTime::UNIX_EPOCH);
    if let Some(text) = duplicate_steps(&probe.steps) {
        return Err(ApiError::BadRequest(text));
    }
    if let Some(u) = doc.get("uuid").and_then(Value::as_str)
        && Uuid::parse_str(u).is_err()
    {
        return Err(ApiError::BadRequest(format!("Expected UUID for uuid: {u}")));
    }
    Ok(())
}

fn refuse_duplicate_name(store: &Store, t: &DeployTemplate) -> Result<(), ApiError> {
    if store
        .deploy_templates
        .values()
        .any(|o| o.uuid != t.uuid && o.name == t.name)
    {
        return Err(ApiError::Conflict(format!(
            "A deploy template with name {} already exists.",
            t.name
        )));
    }
    Ok(())
}

fn create(s: &AppState, ctx: &Ctx, body: &Bytes) -> Result<Response, ApiError> {
    gate(ctx, &Method::POST)?;
    let req = body_object(body, "template")?;
    validate(&req, "template")?;
    let now = s.now();
    let mut store = s.lock();
    let uuid = match req.get("uuid").and_then(Value::as_str) {
        Some(u) => Uuid::parse_str(u)
            .map_err(|_| ApiError::BadRequest(format!("Expected UUID for uuid: {u}")))?,
        None => store.new_uuid(),
    };
    if store.deploy_templates.contains_key(&uuid) {
        return Err(ApiError::Conflict(format!(
            "A deploy template with UUID {uuid} already exists."
        )));
    }
    let cap = store.conductor.settings().max_nodes;
    if store.deploy_templates.len() >= cap {
        return Err(ApiError::Forbidden(format!(
            "Deploy template limit exceeded: this service holds at most {cap}."
        )));
    }
    let mut t = DeployTemplate::from_checked(0, uuid, &req, now);
    refuse_duplicate_name(&store, &t)?;
    t.id = store.next_template_id();
    let mut doc = t.document(&ctx.base);
    doc.put("steps", echoed_steps(&req["steps"]));
    store.deploy_templates.insert(uuid, t);
    let mut resp = json_response(StatusCode::CREATED, &doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v1/deploy_templates/{uuid}", ctx.base)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn patch(s: &AppState, ctx: &Ctx, ident: &str, body: &Bytes) -> Result<Response, ApiError> {
    gate(ctx, &Method::PATCH)?;
    let ops: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid JSON patch: {e}")))?;
    for op in &ops.0 {
        let path = op.path().to_string();
        let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if !PATCHABLE.contains(&top) {
            return Err(ApiError::BadRequest(format!(
                "Cannot patch {path}. Only the following can be updated: {}",
                PATCHABLE.join(", ")
            )));
        }
    }
    let now = s.now();
    let mut store = s.lock();
    let current = find(&store, ident)?.clone();
    let mut view = current.patch_view();
    json_patch::patch(&mut view, &ops).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let doc = view.as_object().cloned().unwrap_or_default();
    validate(&doc, "patch")?;
    let mut updated =
        DeployTemplate::from_checked(current.id, current.uuid, &doc, current.created_at);
    refuse_duplicate_name(&store, &updated)?;
    updated.updated_at = Some(now);
    let answer = updated.document(&ctx.base);
    store.deploy_templates.insert(updated.uuid, updated);
    Ok(json_response(StatusCode::OK, &answer))
}

fn delete(s: &AppState, ctx: &Ctx, ident: &str) -> Result<Response, ApiError> {
    gate(ctx, &Method::DELETE)?;
    let mut store = s.lock();
    let uuid = find(&store, ident)?.uuid;
    store.deploy_templates.remove(&uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The deploy template routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    super::crud::routes(
        "deploy_templates",
        super::crud::Crud {
            list,
            create,
            show,
            patch,
            delete,
        },
    )
}
