//! The fake Redfish BMC on real sockets: HTTP and HTTPS listeners, HEAD, connection drops for an
//! unreachable fault, and added latency.

#[path = "redfish_fixture.rs"]
mod fixture;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use metal_sim::fault::{FaultSet, Latency, Window};
use metal_sim::machine::Timing;
use metal_sim::redfish;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Sends one raw HTTP/1.1 request and returns everything the server wrote before closing.
async fn raw(address: std::net::SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    match read {
        Ok(Ok(_)) | Ok(Err(_)) => out,
        Err(_) => panic!("server neither answered nor closed within 10 s"),
    }
}

async fn start_with(
    faults: FaultSet,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let world = fixture::world_with_faults(1, address, false, Timing::instant(), faults);
    let app = redfish::app(fixture::state(&world));
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            redfish::serve(listener, app, None, stop).await.unwrap();
        }
    });
    (address, stop, task)
}

#[tokio::test]
async fn http_listener_answers_get_and_head() {
    let (address, stop, task) = start_with(FaultSet::default()).await;
    let get = raw(
        address,
        "GET /redfish/v1/ HTTP/1.1\r\nHost: bmc\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&get);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("odata-version: 4.0"));
    assert!(text.contains("ServiceRoot"));
    let head = raw(
        address,
        "HEAD /redfish/v1/ HTTP/1.1\r\nHost: bmc\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&head);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(body.is_empty(), "HEAD must carry no body: {body}");
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn unreachable_bmc_closes_the_connection_without_an_answer() {
    let down = FaultSet {
        unreachable: vec![Window {
            from: Duration::ZERO,
            until: None,
        }],
        ..FaultSet::default()
    };
    let (address, stop, task) = start_with(down).await;
    let reply = raw(
        address,
        "GET /redfish/v1/Systems HTTP/1.1\r\nHost: bmc\r\n\r\n",
    )
    .await;
    assert!(
        reply.is_empty(),
        "got an answer: {}",
        String::from_utf8_lossy(&reply)
    );
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn latency_fault_delays_every_answer() {
    let slow = FaultSet {
        latency: Some(Latency {
            min: Duration::from_millis(150),
            max: Duration::from_millis(150),
        }),
        ..FaultSet::default()
    };
    let (address, stop, task) = start_with(slow).await;
    let started = Instant::now();
    let reply = raw(
        address,
        "GET /redfish/v1/Systems HTTP/1.1\r\nHost: bmc\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 401"));
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn https_listener_serves_with_a_generated_certificate() {
    let server = fixture::Server::start(1, true, Timing::instant()).await;
    // A plain-text request to the TLS port gets no HTTP answer.
    let reply = raw(
        server.address,
        "GET /redfish/v1/ HTTP/1.1\r\nHost: bmc\r\n\r\n",
    )
    .await;
    assert!(!String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));
    let identity = redfish::TlsIdentity::self_signed(&["127.0.0.1".into()]).unwrap();
    assert!(
        identity
            .certificate_pem
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    server.stop().await;
}

#[tokio::test]
async fn an_https_bmc_takes_no_credentials_over_plain_http() {
    // A BMC served over HTTPS has no plain-HTTP listener: Basic credentials or a session login
    // sent in clear to its port get no HTTP answer (the TLS handshake fails first), so they can
    // neither be accepted nor confirmed.
    let server = fixture::Server::start(1, true, Timing::instant()).await;
    let id = fixture::system_id(&server.world);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", fixture::USER, fixture::PASSWORD),
    );
    let with_basic = raw(
        server.address,
        &format!(
            "GET /redfish/v1/Systems/{id} HTTP/1.1\r\nHost: bmc\r\nAuthorization: Basic {basic}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&with_basic).contains("HTTP/1."),
        "an HTTP answer to Basic auth in clear"
    );
    let body = format!(
        r#"{{"UserName":"{}","Password":"{}"}}"#,
        fixture::USER,
        fixture::PASSWORD
    );
    let login = raw(
        server.address,
        &format!(
            "POST /redfish/v1/SessionService/Sessions HTTP/1.1\r\nHost: bmc\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&login).contains("HTTP/1."),
        "an HTTP answer to a session login in clear"
    );
    server.stop().await;
}
