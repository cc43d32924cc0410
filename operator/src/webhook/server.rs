//! The webhook's HTTP face: one POST route per [`Target`], served over TLS on an already-bound
//! listener (so tests bind port 0 on loopback and read the address back).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::review::{Review, Target};
use crate::telemetry::Metrics;

/// A review carries the object and the old object, each up to the API server's 3 MiB limit.
const BODY_LIMIT: usize = 8 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct WebhookState {
    pub metrics: Metrics,
}

/// The router: `POST <target.path()>` for every [`Target`].
pub fn app(state: WebhookState) -> Router {
    Target::ALL
        .into_iter()
        .fold(Router::new(), |router, target| {
            router.route(
                target.path(),
                post(move |State(state): State<WebhookState>, body: Bytes| {
                    admit(target, state, body)
                }),
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn admit(target: Target, state: WebhookState, body: Bytes) -> Response {
    let response = match Review::parse(&body) {
        Ok(review) => {
            let answer = review.answer(target);
            let request = &review.request;
            info!(
                webhook = target.kind(),
                uid = %request.uid,
                operation = ?request.operation,
                namespace = request.namespace.as_deref().unwrap_or_default(),
                name = %request.name,
                allowed = answer.allowed,
                code = answer.result.code,
                "admission review"
            );
            axum::Json(answer.into_review()).into_response()
        }
        Err(error) => {
            warn!(webhook = target.kind(), error = %error, "malformed admission review");
            (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
        }
    };
    state
        .metrics
        .webhook_request(target.path(), response.status().as_u16());
    response
}

/// A running HTTPS server.
pub struct Serving {
    /// Where it listens (the port the OS chose when bound to port 0).
    pub address: SocketAddr,
    /// Ends when the server stops.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves (in-flight reviews get 5 s);
/// returns once the server accepts connections.
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    tls: rustls::ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Serving> {
    // Bound and listening already: connections queue until the accept loop takes them.
    let address = listener.local_addr()?;
    let task = tokio::spawn(metal_guard::serve(
        listener,
        router,
        Some(Arc::new(tls)),
        metal_guard::Limits::default().with_body_limit(BODY_LIMIT),
        shutdown,
        Some(Duration::from_secs(5)),
    ));
    Ok(Serving { address, task })
}
