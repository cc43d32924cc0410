use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum_server::Handle;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use http::Request;
use tower::Service;
use tower::make::Shared;

use crate::connections::Capped;
use crate::{Guarded, Limits};

/// Serves `service` on an already-bound `listener` (HTTPS when `tls` is given) under `limits`,
/// until `shutdown` resolves; then in-flight requests get `grace` to finish (`None`: as long as
/// they take; idle keep-alive connections are closed at once either way).
///
/// Every connection gets the header-read timeout (HTTP/1 headers, and the first request of any
/// protocol; a TLS handshake is bounded apart by the acceptor, 10 s) and every request the rest of
/// the rule ([`Guarded`]). A service error (the fake Redfish's dropped connection) closes the
/// connection without a response, as hyper does.
pub async fn serve<S>(
    listener: std::net::TcpListener,
    service: S,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Option<Duration>,
) -> io::Result<()>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let header_read_timeout = limits.header_read_timeout;
    let handle: Handle<std::net::SocketAddr> = Handle::new();
    let watcher = tokio::spawn({
        let handle = handle.clone();
        async move {
            shutdown.await;
            handle.graceful_shutdown(grace);
        }
    });
    let mut server = axum_server::from_tcp(listener)?
        .first_request_timeout(header_read_timeout)
        .handle(handle);
    server
        .http_builder()
        .http1()
        .header_read_timeout(header_read_timeout);
    let capped = Capped::new(DefaultAcceptor, limits.max_connections);
    let make = Shared::new(Guarded::new(service, limits));
    let result = match tls {
        // The cap is taken before the handshake: handshakes in progress count.
        Some(config) => {
            server
                .acceptor(RustlsAcceptor::new(RustlsConfig::from_config(config)).acceptor(capped))
                .serve(make)
                .await
        }
        None => server.acceptor(capped).serve(make).await,
    };
    watcher.abort();
    result
}
