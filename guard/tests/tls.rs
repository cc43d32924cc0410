//! The rule over TLS: the same limits hold when `serve` is given a rustls configuration (HTTP/2,
//! which the configuration offers first, included).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use metal_guard::Limits;
use metal_tls::{Leaf, Roots};

fn start(app: Router, limits: Limits) -> (SocketAddr, reqwest::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let leaf = Leaf::self_signed(&["localhost"]).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(metal_guard::serve(
        listener,
        app,
        Some(std::sync::Arc::new(leaf.server_config().unwrap())),
        limits,
        std::future::pending(),
        None,
    ));
    let tls = metal_tls::client_config(Roots::Pem(leaf.cert_pem.as_bytes()), false).unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve("localhost", address)
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap();
    (address, client)
}

#[tokio::test]
async fn over_tls_a_large_body_gets_413_and_a_stuck_request_408() {
    let app = Router::new()
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route("/stuck", get(std::future::pending::<&'static str>));
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default().with_body_limit(1024)
    };
    let (address, client) = start(app, limits);
    let url = |path: &str| format!("https://localhost:{}{path}", address.port());
    let over = client
        .post(url("/upload"))
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 413);
    let at = client
        .post(url("/upload"))
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(at.status(), 200);
    assert_eq!(at.text().await.unwrap(), "1024");
    let stuck = client.get(url("/stuck")).send().await.unwrap();
    assert_eq!(stuck.status(), 408);
}
