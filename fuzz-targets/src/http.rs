//! An input for an HTTP target is one or more requests separated by a line `~~~`, each written
//! as on the wire: `METHOD TARGET`, header lines, an empty line, the body. They go in order
//! through the service's router in-process (`tower::ServiceExt::oneshot`, no socket), the same
//! router and handlers the service serves, on one current-thread runtime per thread.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use futures::FutureExt;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The separator line between requests of one input.
pub const SEPARATOR: &[u8] = b"\n~~~\n";
/// The most requests one input sends (the rest are ignored): bounds the work per input.
pub const MAX_REQUESTS: usize = 16;
/// An answer that takes longer breaks the contract (handlers never wait on the client).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// One request as read from the input.
#[derive(Debug, Clone)]
pub struct Written {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub target: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

/// The requests an input writes; parts that are not a request (bad method, target or header)
/// are skipped, as a client library would refuse to send them.
pub fn parse(data: &[u8]) -> Vec<Written> {
    split(data, SEPARATOR)
        .into_iter()
        .filter_map(one)
        .take(MAX_REQUESTS)
        .collect()
}

/// Splits `data` at each `sep`.
pub fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

fn one(part: &[u8]) -> Option<Written> {
    let (head, body) = match part.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&part[..i], part[i + 2..].to_vec()),
        None => (part, Vec::new()),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let (method, target) = lines.next()?.trim().split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let target = target.trim().to_string();
    target.parse::<axum::http::Uri>().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        );
    }
    Some(Written {
        method,
        target,
        headers,
        body,
    })
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as far as it was ready (a watch streams on; what it sent so far is here).
    pub body: Vec<u8>,
    /// Whether the whole body was read.
    pub complete: bool,
}

impl Answer {
    /// Checks what every answer owes a client: no internal error, and a JSON content type only
    /// on a body that is JSON.
    pub fn check(&self, service: &str, request: &Written) {
        assert_ne!(
            self.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{service}: 500 for {} {}: {}",
            request.method,
            request.target,
            String::from_utf8_lossy(&self.body)
        );
        let json = self
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if json && self.complete && !self.body.is_empty() {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&self.body).is_ok(),
                "{service}: a body that is not JSON, labelled JSON, for {} {}: {}",
                request.method,
                request.target,
                String::from_utf8_lossy(&self.body)
            );
        }
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
}

/// The most scheduler turns given to tasks an input left behind (a watch's sender, woken when
/// its reader went away) before the input counts as done.
const DRAIN_TURNS: usize = 256;

/// Runs `f` on this thread's runtime, then lets the tasks it spawned finish: a current-thread
/// runtime runs spawned tasks only while it blocks on something, and `f` seldom waits, so tasks
/// (a watch forwarding changes, ended by its reader closing) would otherwise pile up from input
/// to input.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let out = f.await;
            let metrics = tokio::runtime::Handle::current().metrics();
            for _ in 0..DRAIN_TURNS {
                if metrics.num_alive_tasks() == 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
            out
        })
    })
}

/// Tasks alive on this thread's runtime (none once an input is done).
pub fn alive_tasks() -> usize {
    RUNTIME.with(|rt| rt.metrics().num_alive_tasks())
}

/// Sends `request` through `router` (with `defaults` added where the request has no such
/// header) and reads what is ready of the answer.
pub async fn send(router: &Router, request: &Written, defaults: &[(&str, &str)]) -> Answer {
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(&request.target);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    for (name, value) in defaults {
        if !request.headers.contains_key(*name) {
            builder = builder.header(*name, *value);
        }
    }
    let req = builder
        .body(Body::from(request.body.clone()))
        .expect("a request that parsed builds");
    let answer = tokio::time::timeout(ANSWER_WITHIN, router.clone().oneshot(req))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no answer within {ANSWER_WITHIN:?} to {} {}",
                request.method, request.target
            )
        });
    let Ok(answer) = answer;
    let (parts, mut body) = answer.into_parts();
    let mut bytes = Vec::new();
    let mut complete = false;
    // A streaming answer (a watch) sends what it has and then waits: read only what is ready.
    for _ in 0..64 {
        match body.frame().now_or_never() {
            Some(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            Some(Some(Err(_))) | None => break,
            Some(None) => {
                complete = true;
                break;
            }
        }
    }
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: bytes,
        complete,
    }
}
