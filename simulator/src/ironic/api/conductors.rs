//! Conductor routes (from 1.49): list (paged by host name, `detail`, `fields`) and show — with
//! Ironic 39's query schema texts. The mock has one conductor (`model::conductor_service`).

use super::nodes::bool_of;
use super::paging::{Columns, Listing, PagingQuery, schema_fields};
use super::{AppState, Ctx, json_response, query_pairs};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    CONDUCTOR_FIELDS, CONDUCTOR_HOST, CONDUCTORS_VERSION, Shape, conductor_document,
};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

const COLUMNS: Columns = Columns {
    columns: &[
        "id",
        "hostname",
        "conductor_group",
        "online",
        "created_at",
        "updated_at",
    ],
    refused: &["drivers", "alive"],
};

fn gate(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.version.at_least(CONDUCTORS_VERSION) {
        Ok(())
    } else {
        Err(ApiError::NotFoundText(
            "The API is not supported for this version".into(),
        ))
    }
}

fn not_found(host: &str) -> ApiError {
    ApiError::NotFoundText(format!("Conductor {host} could not be found."))
}

/// `GET /v1/conductors`.
async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    let mut shape = Shape::List;
    let mut paging = PagingQuery::default();
    let mut marker: Option<String> = None;
    let mut fields: Option<String> = None;
    let mut detail: Option<bool> = None;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "marker" => marker = Some(v),
            "sort_dir" if v != "asc" && v != "desc" => {
                return Err(ApiError::BadRequest(format!(
                    "Schema error: '{v}' is not one of ['asc', 'desc']"
                )));
            }
            "fields" => {
                shape = schema_fields(&v, &CONDUCTOR_FIELDS)?;
                if let Shape::Fields(f) = &shape {
                    fields = Some(f.join(","));
                }
            }
            "detail" => detail = Some(bool_of(&v)?),
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
    let after = match marker.as_deref() {
        None => false,
        Some(CONDUCTOR_HOST) => true,
        Some(other) => return Err(not_found(other)),
    };
    paging.refuse_json_key(&COLUMNS)?;
    paging.refuse_unknown_key(&COLUMNS)?;
    let items = if after {
        Vec::new()
    } else {
        vec![conductor_document(&ctx.base, s.started(), &shape)]
    };
    // A full page gets a link to the next, written as Ironic writes it (the host name as marker).
    let next = (items.len() == paging.limit).then(|| {
        let mut q = format!(
            "sort_key={}&sort_dir={}&",
            paging.sort_key,
            paging.sort_dir()
        );
        if let Some(d) = detail {
            q.push_str(if d { "detail=True&" } else { "detail=False&" });
        }
        match (&fields, detail == Some(true)) {
            (Some(f), _) => q.push_str(&format!("fields={f}&")),
            (None, false) => q.push_str("fields=hostname,conductor_group,alive&"),
            (None, true) => {}
        }
        format!(
            "{}/v1/conductors?{q}limit={}&marker={CONDUCTOR_HOST}",
            ctx.base, paging.limit
        )
    });
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "conductors",
            items,
            next,
        },
    ))
}

/// `GET /v1/conductors/{hostname}`.
async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    gate(&ctx)?;
    let mut shape = Shape::Detail;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "fields" => shape = schema_fields(&v, &CONDUCTOR_FIELDS)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unexpected arguments: {other}"
                )));
            }
        }
    }
    if host != CONDUCTOR_HOST {
        return Err(not_found(&host));
    }
    Ok(json_response(
        StatusCode::OK,
        &conductor_document(&ctx.base, s.started(), &shape),
    ))
}

/// Any other method: the framework's 405.
async fn refused() -> ApiError {
    ApiError::method_not_allowed()
}

/// The conductor routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/conductors", get(list).fallback(refused))
        .route("/v1/conductors/", get(list).fallback(refused))
        .route("/v1/conductors/{host}", get(show).fallback(refused))
}
