//! Abusive clients against a server under the guard: each is cut off or refused, bounded, while
//! the server keeps answering others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use metal_guard::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

/// Bound on every wait of these tests.
const BOUND: Duration = Duration::from_secs(10);

/// Serves `app` under `limits` on a loopback port until the test ends.
fn start(app: Router, limits: Limits) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(metal_guard::serve(
        listener,
        app,
        None,
        limits,
        std::future::pending(),
        None,
    ));
    address
}

/// Sends `request` and reads until the server closes; the status code of the answer.
async fn status_of(address: SocketAddr, request: Vec<u8>) -> u16 {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    status_line(&answer)
}

fn status_line(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_after_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let address = start(Router::new().route("/", get(|| async { "ok" })), limits);
    let mut stream = TcpStream::connect(address).await.unwrap();
    let headers = b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    // One byte per 100 ms: the whole head would take over 7 s.
    let cut_off = tokio::time::timeout(BOUND, async {
        for byte in headers {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            sent += 1;
            let mut probe = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut probe)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(_)) => panic!("the server answered a request it never fully received"),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(cut_off.is_ok(), "the connection stayed open {BOUND:?}");
    assert!(sent < headers.len(), "the whole head went through");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut off only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_the_handler_runs() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/upload",
        post({
            let calls = Arc::clone(&calls);
            move |body: Bytes| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                body.len().to_string()
            }
        }),
    );
    let address = start(app, Limits::default().with_body_limit(1024));
    let over = format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 1025\r\n\r\n{}",
        "a".repeat(1025)
    );
    assert_eq!(status_of(address, over.into_bytes()).await, 413);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let at = format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 1024\r\n\r\n{}",
        "a".repeat(1024)
    );
    assert_eq!(status_of(address, at.into_bytes()).await, 200);
}

#[tokio::test]
async fn an_endless_chunked_body_is_refused_at_the_limit() {
    let app = Router::new().route(
        "/upload",
        post(|body: Bytes| async move { body.len().to_string() }),
    );
    let address = start(app, Limits::default().with_body_limit(64 * 1024));
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = b"POST /upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    write.write_all(head).await.unwrap();
    // Chunks of 1 KiB, without end, until the server stops reading.
    let writer = tokio::spawn(async move {
        let chunk = format!("400\r\n{}\r\n", "b".repeat(1024));
        let mut sent = 0usize;
        while write.write_all(chunk.as_bytes()).await.is_ok() {
            sent += 1024;
        }
        sent
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(BOUND, async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = read.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await
    .expect("answered in time");
    assert_eq!(status_line(&answer), 413);
    drop(read);
    writer.abort();
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_while_health_answers() {
    let entered = watch::channel(0usize).0;
    let release = Arc::new(Notify::new());
    let app = Router::new()
        .route(
            "/slow",
            get({
                let (entered, release) = (entered.clone(), Arc::clone(&release));
                move || async move {
                    entered.send_modify(|n| *n += 1);
                    release.notified().await;
                    "done"
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    let limits = Limits {
        max_concurrent_requests: 2,
        ..Limits::default()
    }
    .with_exempt_paths(["/healthz"]);
    let address = start(app, limits);
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(status_of(address, get_request("/slow"))))
        .collect();
    let mut seen = entered.subscribe();
    tokio::time::timeout(BOUND, seen.wait_for(|n| *n == 2))
        .await
        .expect("both slow requests reached the handler")
        .unwrap();
    assert_eq!(status_of(address, get_request("/slow")).await, 503);
    assert_eq!(status_of(address, get_request("/healthz")).await, 200);
    release.notify_waiters();
    for request in slow {
        assert_eq!(request.await.unwrap(), 200);
    }
    let again = tokio::spawn(status_of(address, get_request("/slow")));
    tokio::time::timeout(BOUND, seen.wait_for(|n| *n == 3))
        .await
        .expect("a slot was free again")
        .unwrap();
    release.notify_waiters();
    assert_eq!(again.await.unwrap(), 200);
}

#[tokio::test]
async fn a_request_not_answered_in_time_gets_408() {
    let app = Router::new().route("/stuck", get(std::future::pending::<&'static str>));
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let address = start(app, limits);
    assert_eq!(status_of(address, get_request("/stuck")).await, 408);
}

/// Connections beyond the cap are closed as soon as they are accepted, before anything is read;
/// a slot frees when a connection closes. Idle connections count: they are what a client holding
/// sockets open would pile up.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_a_closed_one_frees_its_slot() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let address = start(Router::new().route("/", get(|| async { "ok" })), limits);
    let first = TcpStream::connect(address).await.unwrap();
    let mut second = TcpStream::connect(address).await.unwrap();
    // The second connection is served: the server holds both slots now.
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    tokio::time::timeout(BOUND, second.read_exact(&mut answer))
        .await
        .expect("the second connection is answered")
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // The third is closed without an answer, even though it sends a whole request.
    let mut third = TcpStream::connect(address).await.unwrap();
    let _ = third.write_all(&get_request("/")).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(BOUND, third.read_to_end(&mut rest))
        .await
        .expect("the third connection is closed in time");
    assert!(
        closed.is_err() || rest.is_empty(),
        "the connection beyond the cap was answered: {:?}",
        String::from_utf8_lossy(&rest)
    );
    // One closes; a new connection gets its slot (the server sees the close asynchronously).
    drop(first);
    let served = tokio::time::timeout(BOUND, async {
        loop {
            let mut s = TcpStream::connect(address).await.unwrap();
            let _ = s.write_all(&get_request("/")).await;
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer).await;
            if answer.starts_with(b"HTTP/1.1 200") {
                return;
            }
            // A refused connection closes at once: try again until the server has seen the close.
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(served.is_ok(), "no slot freed after a connection closed");
}

/// An idle keep-alive connection is closed after the header-read timeout: it cannot hold a slot
/// for ever.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let address = start(Router::new().route("/", get(|| async { "ok" })), limits);
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(BOUND, stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the idle connection stayed open {BOUND:?}");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        started.elapsed()
    );
}
