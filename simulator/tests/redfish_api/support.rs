//! What the fake Redfish tests share: a world of machines behind one router, requests with basic
//! auth or chosen headers, and the reply's status, headers and JSON body.

pub(crate) use crate::fixture;
pub use axum::Router;
pub use axum::body::Body;
pub use axum::http::{HeaderMap, Method, Request, StatusCode, header};
pub use base64::Engine;
pub use http_body_util::BodyExt;
pub use metal_sim::fault::FaultSet;
pub use metal_sim::machine::Timing;
pub use metal_sim::redfish::{self, DropConnection, ServiceOptions};
pub use serde_json::{Value, json};
pub use std::net::SocketAddr;
pub use std::time::Duration;
pub use tower::ServiceExt;

pub const SOCKET: &str = "127.0.0.1:8000";

pub fn basic() -> String {
    let raw = format!("{}:{}", fixture::USER, fixture::PASSWORD);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub dropped: bool,
}

pub async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = match body {
        Some(b) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let dropped = response.extensions().get::<DropConnection>().is_some();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        headers,
        body,
        dropped,
    }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Method::GET, uri, &[("authorization", &basic())], None).await
}

pub async fn post(app: &Router, uri: &str, body: Value) -> Reply {
    send(
        app,
        Method::POST,
        uri,
        &[("authorization", &basic())],
        Some(body),
    )
    .await
}

pub async fn patch(app: &Router, uri: &str, body: Value) -> Reply {
    send(
        app,
        Method::PATCH,
        uri,
        &[("authorization", &basic())],
        Some(body),
    )
    .await
}

pub fn setup(count: u8) -> (Router, String, std::sync::Arc<metal_sim::machine::World>) {
    let world = fixture::world(
        count,
        SOCKET.parse::<SocketAddr>().unwrap(),
        false,
        Timing::instant(),
    );
    let app = redfish::app(fixture::state(&world));
    let id = fixture::system_id(&world);
    (app, id, world)
}

pub fn message_id(body: &Value) -> String {
    body["error"]["@Message.ExtendedInfo"][0]["MessageId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub async fn delete(app: &Router, uri: &str) -> Reply {
    send(
        app,
        Method::DELETE,
        uri,
        &[("authorization", &basic())],
        None,
    )
    .await
}

pub fn message_args(body: &Value) -> Vec<String> {
    body["error"]["@Message.ExtendedInfo"][0]["MessageArgs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
