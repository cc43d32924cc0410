//! What the mock Ironic API tests share: a state on a fixed clock, requests through the router
//! (axum oneshot) at a chosen or the latest microversion, and a node settled by stepping the
//! conductor.

pub use axum::body::Body;
pub use axum::http::{Request, StatusCode};
pub use chrono::{TimeZone, Utc};
pub use http_body_util::BodyExt;
pub use metal_sim::ironic::conductor::{Settings, Timings};
pub use metal_sim::ironic::{AppState, Clock, app};
pub use serde_json::{Value, json};
pub use std::sync::Arc;
pub use tower::ServiceExt;

pub fn state() -> AppState {
    let clock: Clock = Arc::new(|| {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time")
    });
    AppState::new(Settings::with(Timings::instant(), false), 7, clock).expect("state")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("json body")
    }

    pub fn fault(&self) -> String {
        let inner: Value = serde_json::from_str(
            self.json()["error_message"]
                .as_str()
                .expect("error_message"),
        )
        .expect("inner");
        inner["faultstring"]
            .as_str()
            .expect("faultstring")
            .to_string()
    }
}

pub async fn call(
    st: &AppState,
    method: &str,
    uri: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:6385");
    if let Some(v) = version {
        req = req.header("X-OpenStack-Ironic-API-Version", v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = app(st.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).expect("utf8"),
    }
}

/// A request at the latest microversion.
pub async fn latest(st: &AppState, method: &str, uri: &str, body: Option<Value>) -> Reply {
    call(st, method, uri, Some("latest"), body).await
}

/// A GET at the latest microversion.
pub async fn get(st: &AppState, uri: &str) -> Reply {
    latest(st, "GET", uri, None).await
}

/// Enrols a fake-hardware node named `name`.
pub async fn create_fake(st: &AppState, name: &str) -> Reply {
    let body = json!({"driver": "fake-hardware", "name": name});
    latest(st, "POST", "/v1/nodes", Some(body)).await
}

/// Asks for the provision state change `target` of `node`.
pub async fn provision(st: &AppState, node: &str, target: &str) -> Reply {
    let body = json!({"target": target});
    latest(
        st,
        "PUT",
        &format!("/v1/nodes/{node}/states/provision"),
        Some(body),
    )
    .await
}

/// Steps the conductor until the node's provision state settles (bounded).
pub async fn settle(st: &AppState, node: &str) -> Value {
    for _ in 0..50 {
        let r = get(st, &format!("/v1/nodes/{node}")).await;
        let doc = r.json();
        if doc["target_provision_state"].is_null() && doc["reservation"].is_null() {
            return doc;
        }
        st.step_conductor();
        tokio::task::yield_now().await;
    }
    panic!("node {node} did not settle");
}
