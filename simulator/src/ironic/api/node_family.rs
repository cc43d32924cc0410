//! Node groupings that are read, not stored: a node's children (`/v1/nodes/{id}/children`, from
//! 1.83: the nodes naming it as `parent_node`) and the shards (`/v1/shards`, from 1.82: how many
//! nodes each shard holds).

use super::paging::Listing;
use super::{AppState, Ctx, NodeRequest, json_response, query_pairs};
use crate::ironic::error::ApiError;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

/// One shard as `GET /v1/shards` lists it.
#[derive(serde::Serialize)]
struct Shard {
    name: String,
    count: usize,
}

/// Refuses any query parameter (neither endpoint takes one).
fn no_arguments(q: Option<&str>) -> Result<(), ApiError> {
    match query_pairs(q).into_iter().next() {
        Some((k, _)) => Err(ApiError::BadRequest(format!("Unexpected arguments: {k}"))),
        None => Ok(()),
    }
}

/// `GET /v1/nodes/{id}/children`.
async fn children(
    NodeRequest { s, ctx, ident }: NodeRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(83) {
        return Err(ApiError::NotFound);
    }
    no_arguments(q.as_deref())?;
    let store = s.lock();
    let parent = super::nodes::find(&store, &ctx, &ident)?;
    let children: Vec<Value> = store
        .children_of(parent)
        .into_iter()
        .map(|u| Value::String(u.to_string()))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "children": children,
            "links": {"href": format!("{}/v1/nodes?parent_node={parent}", ctx.base), "rel": "children"},
        }),
    ))
}

/// `GET /v1/shards`.
async fn shards(
    axum::extract::State(s): axum::extract::State<AppState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !ctx.version.at_least(82) {
        return Err(ApiError::NotFoundText(
            "The API version does not allow shards".into(),
        ));
    }
    no_arguments(q.as_deref())?;
    let shards: Vec<Shard> = s
        .lock()
        .shard_counts()
        .into_iter()
        .map(|(name, count)| Shard {
            name: name.unwrap_or_else(|| "None".into()),
            count,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &Listing {
            name: "shards",
            items: shards,
            next: None,
        },
    ))
}

/// The routes, merged into the API's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/shards", get(shards))
        .route("/v1/nodes/{ident}/children", get(children))
}
