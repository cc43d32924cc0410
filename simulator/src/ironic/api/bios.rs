//! A node's cached BIOS settings (`/v1/nodes/{id}/bios[/{name}]`, from 1.40; the registry's
//! detail fields from 1.74), with Ironic 39's refusals: `detail` below 1.74, `detail` with
//! `fields`, an unknown field, an unknown setting. The cache itself is the model's
//! (`model::bios`), filled by the conductor when a node is verified.

use super::nodes::{bool_of, found};
use super::{AppState, Ctx, NodeRequest, json_response, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::bios::FIELDS;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

/// The microversion the BIOS API appeared in.
const BIOS_VERSION: u32 = 40;
/// The microversion that added the registry's fields (and `detail`).
const DETAIL_VERSION: u32 = 74;

/// `GET /v1/nodes/{id}/bios[?detail=true|fields=...]`.
pub(crate) async fn list(r: NodeRequest, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    if !r.ctx.version.at_least(BIOS_VERSION) {
        return Err(ApiError::Framework(StatusCode::NOT_FOUND, String::new()));
    }
    let detail_allowed = r.ctx.version.at_least(DETAIL_VERSION);
    let mut detail = false;
    let mut fields: Option<Vec<String>> = None;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "detail" if detail_allowed => detail = bool_of(&v).unwrap_or(false),
            "fields" => {
                let asked: Vec<String> = v
                    .split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect();
                if let Some(bad) = asked.iter().find(|f| !FIELDS.contains(&f.as_str())) {
                    return Err(ApiError::BadRequest(format!(
                        "Schema error: '{bad}' is not one of [{}]",
                        FIELDS.map(|f| format!("'{f}'")).join(", ")
                    )));
                }
                fields = Some(asked);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Schema error: Additional properties are not allowed ('{other}' was unexpected)"
                )));
            }
        }
    }
    if detail && fields.is_some() {
        return Err(ApiError::BadRequest(
            "Can not specify ?detail=True and fields in the same request.".into(),
        ));
    }
    let store = r.s.lock();
    let node = found(&store, &r.ctx, &r.ident)?;
    let settings: Vec<Value> = node
        .bios
        .iter()
        .map(|s| s.document(&r.ctx.base, &r.ident, detail, fields.as_deref()))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "bios": settings })))
}

/// `GET /v1/nodes/{id}/bios/{name}`: one setting, keyed by its name.
pub(crate) async fn one(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((ident, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(BIOS_VERSION) {
        return Err(ApiError::Framework(StatusCode::NOT_FOUND, String::new()));
    }
    let store = s.lock();
    let node = found(&store, &ctx, &ident)?;
    let setting = node.bios.iter().find(|b| b.name == name).ok_or_else(|| {
        ApiError::NotFoundText(format!(
            "Node {} doesn't have a BIOS setting '{name}'",
            node.uuid
        ))
    })?;
    let doc = setting.document(
        &ctx.base,
        &node.uuid.to_string(),
        ctx.version.at_least(DETAIL_VERSION),
        None,
    );
    let mut out = Map::new();
    out.insert(name, doc);
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}
