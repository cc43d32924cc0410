//! The mock Ironic against abusive clients (it is noauth: every client may create): creates beyond
//! its node and port caps are refused, and a request body over its limit is refused with 413 while
//! it is read, not after buffering it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use metal_sim::ironic::conductor::{Settings, Timings};
use metal_sim::ironic::{AppState, Clock};
use serde_json::{Value, json};
use support::ironic::{router_call as call, start_mock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait here.
const BOUND: Duration = Duration::from_secs(30);

fn capped(max_nodes: usize, max_ports: usize) -> AppState {
    let clock: Clock = Arc::new(Utc::now);
    let settings = Settings {
        max_nodes,
        max_ports,
        ..Settings::with(Timings::instant(), false)
    };
    AppState::new(settings, 7, clock).expect("state")
}

fn fault_of(body: &Value) -> String {
    let inner: Value =
        serde_json::from_str(body["error_message"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
    inner["faultstring"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn creating_nodes_beyond_the_cap_is_refused_with_ironics_error_body() {
    let st = capped(2, 100);
    for name in ["n1", "n2"] {
        let (status, _) = call(
            &st,
            "POST",
            "/v1/nodes",
            Some(json!({"name": name, "driver": "fake-hardware"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) = call(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"name": "n3", "driver": "fake-hardware"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        fault_of(&body),
        "Node limit exceeded: this service holds at most 2 nodes."
    );
    // A freed slot can be taken again.
    let (status, _) = call(&st, "DELETE", "/v1/nodes/n1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"name": "n3", "driver": "fake-hardware"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn creating_ports_beyond_the_cap_is_refused() {
    let st = capped(10, 2);
    let (_, node) = call(
        &st,
        "POST",
        "/v1/nodes",
        Some(json!({"name": "n1", "driver": "fake-hardware"})),
    )
    .await;
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let (status, body) = call(
            &st,
            "POST",
            "/v1/ports",
            Some(json!({"address": format!("52:54:00:aa:bb:0{i}"), "node_uuid": node["uuid"]})),
        )
        .await;
        statuses.push(status);
        if i == 3 {
            assert_eq!(
                fault_of(&body),
                "Port limit exceeded: this service holds at most 2 ports."
            );
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::FORBIDDEN
        ]
    );
}

/// Reads the answer's status line from `read` (bounded).
async fn status_from(read: &mut (impl AsyncReadExt + Unpin)) -> u16 {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(BOUND, async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = read.read(&mut buffer).await.expect("read");
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await
    .expect("answered in time");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn a_provision_body_declared_over_the_limit_is_refused_before_it_is_sent() {
    let mock = start_mock(Settings::with(Timings::instant(), false), 7).await;
    let address = mock.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    // Only the head: a server that waits for the body to buffer it never answers.
    let head = format!(
        "PUT /v1/nodes/n1/states/provision HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        metal_sim::ironic::api::BODY_LIMIT + 1
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    assert_eq!(status_from(&mut stream).await, 413);
    mock.task.abort();
}

#[tokio::test]
async fn an_endless_chunked_provision_body_is_refused_at_the_limit() {
    let mock = start_mock(Settings::with(Timings::instant(), false), 7).await;
    let address = mock.url.trim_start_matches("http://").to_owned();
    let (mut read, mut write) = TcpStream::connect(&address)
        .await
        .expect("connect")
        .into_split();
    let head = format!(
        "PUT /v1/nodes/n1/states/provision HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await.expect("write");
    let writer = tokio::spawn(async move {
        let chunk = format!("10000\r\n{}\r\n", "c".repeat(0x10000));
        while write.write_all(chunk.as_bytes()).await.is_ok() {}
    });
    assert_eq!(status_from(&mut read).await, 413);
    drop(read);
    writer.abort();
    mock.task.abort();
}
