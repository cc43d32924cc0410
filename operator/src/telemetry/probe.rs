//! The HTTP endpoints an orchestrator scrapes: `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// Readiness shared between the parts that gate it (the controller's first host list, and the
/// admission webhook when one is served) and the probe server.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<Gates>);

#[derive(Debug, Default)]
struct Gates {
    hosts_listed: AtomicBool,
    webhook_pending: AtomicBool,
}

impl Readiness {
    /// Marks the first list of hosts as completed.
    pub fn set_ready(&self) {
        self.0.hosts_listed.store(true, Ordering::SeqCst);
    }

    /// Holds readiness back until [`Readiness::set_webhook_serving`]: a Service routes the API
    /// server's admission calls only to ready pods.
    pub fn await_webhook(&self) {
        self.0.webhook_pending.store(true, Ordering::SeqCst);
    }

    /// Marks the admission webhook as serving (and its CA as handed to the API server).
    pub fn set_webhook_serving(&self) {
        self.0.webhook_pending.store(false, Ordering::SeqCst);
    }

    /// What readiness still waits for, if anything.
    pub fn waiting_for(&self) -> Option<&'static str> {
        if !self.0.hosts_listed.load(Ordering::SeqCst) {
            Some("the first host list")
        } else if self.0.webhook_pending.load(Ordering::SeqCst) {
            Some("the admission webhook to serve")
        } else {
            None
        }
    }

    pub fn is_ready(&self) -> bool {
        self.waiting_for().is_none()
    }
}

/// What the probe handlers read.
#[derive(Clone)]
pub struct ProbeState {
    pub metrics: Metrics,
    pub readiness: Readiness,
}

/// The router serving all three endpoints.
pub fn app(state: ProbeState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves `router` on an already-bound listener until `shutdown` resolves, under metal-guard's
/// default limits with `/healthz` and `/readyz` exempt from the concurrency limit (the kubelet's
/// probes answer while the server is busy).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    metal_guard::serve(
        listener.into_std()?,
        router,
        None,
        metal_guard::Limits::default().with_exempt_paths(["/healthz", "/readyz"]),
        shutdown,
        None,
    )
    .await
}

async fn metrics(State(state): State<ProbeState>) -> Response {
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics encoding failed\n",
        )
            .into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<ProbeState>) -> Response {
    match state.readiness.waiting_for() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(what) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for {what}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    fn state() -> ProbeState {
        ProbeState {
            metrics: Metrics::new(),
            readiness: Readiness::default(),
        }
    }

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let resp = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_answers_503_until_the_first_list_completed() {
        let st = state();
        assert_eq!(
            get(app(st.clone()), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(get(app(st.clone()), "/healthz").await.0, StatusCode::OK);
        st.readiness.set_ready();
        assert_eq!(get(app(st), "/readyz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn readyz_waits_for_the_webhook_when_one_is_served() {
        let st = state();
        st.readiness.await_webhook();
        st.readiness.set_ready();
        let (status, body) = get(app(st.clone()), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "waiting for the admission webhook to serve\n");
        st.readiness.set_webhook_serving();
        assert_eq!(get(app(st), "/readyz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_the_registry_as_text() {
        let st = state();
        st.metrics.reconcile("ns", "h");
        let (status, body) = get(app(st), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("metal3_reconcile_total{namespace=\"ns\",host=\"h\"} 1"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"));
    }
}
