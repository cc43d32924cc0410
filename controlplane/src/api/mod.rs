//! The HTTP surface (axum): bearer-token authentication, discovery and OpenAPI documents, and
//! the resource paths `/api/v1/...` and `/apis/<group>/<version>/...` with their verbs.
//!
//! - [`target`]: which resource, namespace, name and subresource a path names;
//! - [`verbs`]: the verbs on a resource path (get, list, watch, create, update, patch, delete,
//!   scale) and the options each write takes.

mod target;
mod verbs;

use verbs::resource_request;
pub(crate) use verbs::{table_response, wants_table};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::State;
use super::discovery;
use super::resource::Resource;
use super::status::ApiError;

/// Largest request body accepted (8 MiB): the listener's body limit (`server.rs` hands it to
/// metal-guard, which enforces it while the body is read); the read below answers its error 413.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The router for a state.
pub fn router(state: Arc<State>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

pub(super) fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

fn error(e: &ApiError) -> Response {
    if e.plain {
        let mut resp = Response::new(Body::from(format!("{}\n", e.message)));
        *resp.status_mut() = StatusCode::from_u16(e.code).unwrap_or(StatusCode::NOT_FOUND);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return resp;
    }
    let mut resp = json_response(e.code, &e.body(), &[]);
    if let Some(after) = e
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfterSeconds"))
        .and_then(Value::as_u64)
        && let Ok(v) = HeaderValue::from_str(&after.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn authorized(state: &State, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| metal_tls::secret::eq(t.trim().as_bytes(), state.token.as_bytes()))
}

async fn handle(AxState(state): AxState<Arc<State>>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return (StatusCode::OK, "ok").into_response();
    }
    if !authorized(&state, req.headers()) {
        return error(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    }
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return error(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                "request body too large",
            ));
        }
    };
    match route(&state, &method, &path, &query, &headers, body) {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(code = e.code, reason = e.reason, path = %path, "request refused");
            error(&e)
        }
    }
}

fn route(
    state: &Arc<State>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let resources = state.resources();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = method == Method::GET;
    let doc = |v: Option<Value>| {
        v.map(|v| json_response(200, &v, &[]))
            .ok_or_else(ApiError::no_route)
    };
    match segs.as_slice() {
        ["_sim", "disconnect-watches"] => disconnect_watches(state, method, query),
        ["version"] if get => doc(Some(discovery::version())),
        ["api"] if get => {
            let address = state
                .server_address
                .lock()
                .map(|a| a.clone())
                .unwrap_or_default();
            doc(Some(discovery::api_versions(&address)))
        }
        ["apis"] if get => doc(Some(discovery::group_list(&resources))),
        ["api", "v1"] if get => doc(discovery::resource_list(&resources, "", "v1")),
        ["apis", g] if get => doc(discovery::group(&resources, g)),
        ["apis", g, v] if get => doc(discovery::resource_list(&resources, g, v)),
        ["openapi", "v3"] if get => doc(Some(discovery::openapi_v3_root(
            &resources,
            registry_hash(&resources),
        ))),
        ["openapi", "v3", "api", v] if get => {
            doc(discovery::openapi_v3_group_version(&resources, "", v))
        }
        ["openapi", "v3", "apis", g, v] if get => {
            doc(discovery::openapi_v3_group_version(&resources, g, v))
        }
        ["api", v, rest @ ..] => {
            resource_request(state, &resources, "", v, rest, method, query, headers, body)
        }
        ["apis", g, v, rest @ ..] => {
            resource_request(state, &resources, g, v, rest, method, query, headers, body)
        }
        _ => Err(ApiError::no_route()),
    }
}

fn registry_hash(resources: &[Resource]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for r in resources {
        (&r.group, &r.version, &r.plural).hash(&mut h);
        r.schema.as_ref().map(|s| s.to_string()).hash(&mut h);
    }
    h.finish()
}

/// The simulator-only watch-disconnect switch (see `super::disconnect`): `POST` cuts every open
/// watch (`?refuseSeconds=N` refuses new ones for N seconds), `DELETE` ends the refusal, `GET`
/// shows the count of cuts.
fn disconnect_watches(
    state: &Arc<State>,
    method: &Method,
    query: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    use super::disconnect::MAX_REFUSE_SECONDS;
    if method == Method::POST {
        let refuse = match query.get("refuseSeconds") {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n <= MAX_REFUSE_SECONDS => Some(Duration::from_secs(n)),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "refuseSeconds must be a whole number of seconds from 0 to {MAX_REFUSE_SECONDS}, not {text:?}"
                    )));
                }
            },
        };
        let open = state.disconnect_watches(refuse);
        return Ok(json_response(
            200,
            &serde_json::json!({"disconnected": open, "disconnects": state.watch_disconnects()}),
            &[],
        ));
    }
    if method == Method::DELETE {
        state.resume_watches();
        return Ok(json_response(
            200,
            &serde_json::json!({"disconnects": state.watch_disconnects()}),
            &[],
        ));
    }
    if method == Method::GET {
        return Ok(json_response(
            200,
            &serde_json::json!({
                "disconnects": state.watch_disconnects(),
                "refusing": state.cuts.refusing(state.now()),
            }),
            &[],
        ));
    }
    Err(ApiError::new(
        405,
        "MethodNotAllowed",
        "use POST, DELETE or GET on /_sim/disconnect-watches",
    ))
}
