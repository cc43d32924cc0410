//! Hardware types (`/v1/drivers[/{name}]`), what they publish (`/properties`), and vendor
//! passthru on drivers and nodes (`/vendor_passthru/methods` and a call): the methods are listed
//! as Ironic 39 lists them (`model::driver_facts`); the mock runs none of them.

use super::nodes::found;
use super::{AppState, Ctx, NodeRequest, json_response, query_pairs};
use crate::ironic::encoding::Doc;
use crate::ironic::error::ApiError;
use crate::ironic::model::driver_facts::{driver_properties, vendor_methods};
use crate::ironic::model::{DRIVERS, INTERFACES, default_interface, links};
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get};
use serde_json::{Map, Value, json};

/// The driver routes and the node's vendor passthru.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/drivers", get(list))
        .route("/v1/drivers/", get(list))
        .route("/v1/drivers/{name}", get(show))
        .route("/v1/drivers/{name}/properties", get(properties))
        .route(
            "/v1/drivers/{name}/vendor_passthru/methods",
            get(driver_methods),
        )
        .route("/v1/drivers/{name}/vendor_passthru", any(driver_call))
        .route(
            "/v1/nodes/{ident}/vendor_passthru/methods",
            get(node_methods),
        )
        .route("/v1/nodes/{ident}/vendor_passthru", any(node_call))
}

fn driver_doc(ctx: &Ctx, name: &str, detail: bool) -> Doc {
    let mut d = Doc::new();
    d.put("name", name);
    d.put("hosts", json!(["localhost"]));
    d.put("links", links(&ctx.base, &format!("drivers/{name}")));
    d.put(
        "properties",
        links(&ctx.base, &format!("drivers/{name}/properties")),
    );
    d.put("type", "dynamic");
    if detail {
        for i in INTERFACES {
            let def = default_interface(name, i);
            d.put(&format!("default_{i}_interface"), def);
            d.put(&format!("enabled_{i}_interfaces"), json!([def]));
        }
    }
    d
}

async fn list(ctx: Ctx) -> Response {
    let list: Vec<Doc> = DRIVERS.iter().map(|n| driver_doc(&ctx, n, false)).collect();
    let mut d = Doc::new();
    d.put("drivers", serde_json::to_value(&list).unwrap_or_default());
    json_response(StatusCode::OK, &d)
}

fn served(name: &str) -> Result<(), ApiError> {
    if DRIVERS.contains(&name) {
        Ok(())
    } else {
        Err(ApiError::DriverNotFound(name.to_string()))
    }
}

async fn show(ctx: Ctx, Path(name): Path<String>) -> Result<Response, ApiError> {
    served(&name)?;
    Ok(json_response(
        StatusCode::OK,
        &driver_doc(&ctx, &name, true),
    ))
}

/// The refusal of a driver's sub-resources (not the driver's own: [`served`]).
fn unknown(name: &str) -> ApiError {
    ApiError::NotFoundText(format!("The driver '{name}' is unknown."))
}

/// `GET /v1/drivers/{name}/properties`.
async fn properties(Path(name): Path<String>) -> Result<Response, ApiError> {
    let props = driver_properties(&name).ok_or_else(|| unknown(&name))?;
    Ok(json_response(StatusCode::OK, &Value::Object(props)))
}

/// `GET /v1/drivers/{name}/vendor_passthru/methods`: no served hardware type has driver-level
/// methods.
async fn driver_methods(Path(name): Path<String>) -> Result<Response, ApiError> {
    served(&name).map_err(|_| unknown(&name))?;
    Ok(json_response(StatusCode::OK, &Value::Object(Map::new())))
}

/// The `method` query parameter of a passthru call (Ironic: `Missing mandatory parameter:
/// method`).
fn method_of(q: Option<&str>) -> Result<String, ApiError> {
    query_pairs(q)
        .into_iter()
        .find(|(k, _)| k == "method")
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::BadRequest("Missing mandatory parameter: method".into()))
}

fn no_handler(method: &str) -> ApiError {
    ApiError::BadRequest(format!("No handler for method {method}"))
}

/// A call to a driver's vendor method: there are none, so every method has no handler (Ironic 39
/// answers 500 `tuple index out of range`, a bug).
async fn driver_call(
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let method = method_of(q.as_deref())?;
    served(&name).map_err(|_| unknown(&name))?;
    Err(no_handler(&method))
}

fn vendor_of(node: &crate::ironic::model::Node) -> String {
    node.interfaces
        .get("vendor")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `GET /v1/nodes/{id}/vendor_passthru/methods`: the methods of the node's vendor interface.
async fn node_methods(r: NodeRequest) -> Result<Response, ApiError> {
    let store = r.s.lock();
    let node = found(&store, &r.ctx, &r.ident)?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Object(vendor_methods(&vendor_of(node))),
    ))
}

/// A call to a node's vendor method: one its vendor interface lacks has no handler, as in
/// Ironic; one it has is refused plainly, since the mock runs no vendor method.
async fn node_call(r: NodeRequest, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let method = method_of(q.as_deref())?;
    let store = r.s.lock();
    let node = found(&store, &r.ctx, &r.ident)?;
    let vendor = vendor_of(node);
    if !vendor_methods(&vendor).contains_key(&method) {
        return Err(no_handler(&method));
    }
    Err(ApiError::BadRequest(format!(
        "The simulated Ironic does not run vendor passthru methods; node {} asked for {method} of the {vendor} vendor interface.",
        node.uuid
    )))
}
