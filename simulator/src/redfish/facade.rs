//! The BMC facade in front of every request: fault verdicts (unreachable, 5xx, latency), request
//! logging without credentials, Redfish bodies for 404/405, and trailing-slash normalisation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::RedfishError;
use super::service::RedfishState;
use crate::fault::{FaultKind, Verdict};

/// Marks a response whose connection must be dropped without an answer (an "unreachable" fault).
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The error that makes the HTTP server abort a connection marked with [`DropConnection`].
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected unreachable fault")]
pub struct DroppedConnection;

/// The system a request is about: the id in `/Systems|Managers|Chassis/{id}`, or the only system of
/// a single-system service.
fn target_host<'a>(
    state: &'a RedfishState,
    path: &str,
) -> Option<&'a std::sync::Arc<crate::machine::Host>> {
    let rest = path.strip_prefix("/redfish/v1/")?;
    let mut parts = rest.split('/');
    let collection = parts.next()?;
    if matches!(collection, "Systems" | "Managers" | "Chassis")
        && let Some(id) = parts.next().filter(|s| !s.is_empty())
    {
        return state.host(id);
    }
    match state.hosts() {
        [only] => Some(only),
        _ => None,
    }
}

/// Middleware: applies the host's HTTP fault verdict, then logs the request.
pub async fn faults_and_logging(
    State(state): State<RedfishState>,
    request: Request,
    next: Next,
) -> Response {
    // Only what the log lines need, and no copies: a standard method and a parsed URI clone
    // without allocating; the clock is read only when the per-request line is enabled.
    let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
    let method = request.method().clone();
    let uri = request.uri().clone();
    let path = uri.path();
    if let Some(host) = target_host(&state, path) {
        let now = state.now();
        match host.fault_verdict(FaultKind::HttpRequest, now) {
            Verdict::Drop => {
                tracing::info!(%method, path = %path, host = %host.name, "redfish request dropped (unreachable fault)");
                let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
                response.extensions_mut().insert(DropConnection);
                return response;
            }
            Verdict::Fail5xx(code) => {
                tracing::info!(%method, path = %path, host = %host.name, status = code, "redfish request failed (5xx fault)");
                let mut response = RedfishError::ServiceUnavailable.into_response();
                if let Ok(status) = StatusCode::from_u16(code)
                    && status.is_server_error()
                {
                    *response.status_mut() = status;
                }
                return response;
            }
            Verdict::Delay(d) => {
                tokio::time::sleep(d).await;
            }
            _ => {}
        }
    }
    let response = next.run(request).await;
    // Every request at debug (RUST_LOG=metal_sim::redfish=debug); refusals, faults and state
    // changes are logged at info where they happen.
    if let Some(started) = started {
        tracing::debug!(
            %method,
            path = %path,
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "redfish request"
        );
    }
    response
}

/// Middleware: gives axum's bare 405 answers a Redfish error body (keeping `Allow`).
pub async fn method_errors(request: Request, next: Next) -> Response {
    // Cheap clones (no allocation for standard methods and parsed URIs); strings only for a 405.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = response
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    RedfishError::MethodNotAllowed {
        uri: uri.path().to_string(),
        method: method.to_string(),
        allow,
    }
    .into_response()
}

/// Fallback: any unknown URI.
pub async fn not_found(uri: Uri) -> RedfishError {
    RedfishError::NotFound {
        uri: uri.path().to_string(),
    }
}

/// Strips one trailing slash (except on `/redfish/v1/` itself) so `/Systems/` routes like `/Systems`.
pub fn normalize_path(mut request: Request<Body>) -> Request<Body> {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && path != "/redfish/v1/" {
        let trimmed = path.trim_end_matches('/');
        let new = match request.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = new.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Wraps the app so that responses marked [`DropConnection`] abort the connection instead.
#[derive(Clone)]
pub struct Dropper<S>(pub S);

impl<S, B> tower::Service<Request<B>> for Dropper<S>
where
    S: tower::Service<Request<B>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = DroppedConnection;
    type Future = Pin<Box<dyn Future<Output = Result<Response, DroppedConnection>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.0.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.0.call(request);
        Box::pin(async move {
            let response = match future.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
                Err(DroppedConnection)
            } else {
                Ok(response)
            }
        })
    }
}
