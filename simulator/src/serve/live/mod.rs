//! The live fleet view on the control address: `GET /ui` (one self-contained page) and
//! `GET /events` (server-sent events: a `snapshot` of every machine, then `rows` that changed).
//!
//! [`view`] decides what each machine reads as (pure, tested on its own); [`stream`] decides what
//! one page is sent and when; this file is the HTTP shell. The page's fault buttons call the
//! control API's own `/hosts/{name}/faults` and `/hosts/{name}/agent-faults`.

pub mod stream;
pub mod view;

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use sha2::Digest as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use self::stream::{Sources, Stream, StreamSettings};

/// How many pages may follow `/events` at once; one more is answered 503.
pub const MAX_STREAMS: usize = 16;

/// What the live view's routes work on.
#[derive(Clone)]
pub struct LiveState {
    sources: Sources,
    settings: StreamSettings,
    streams: Arc<Semaphore>,
    stop: CancellationToken,
}

impl LiveState {
    /// Live state over `sources`, pacing streams by `settings`; every stream ends when `stop` is
    /// cancelled (a server stopping waits for its responses, and a stream never ends by itself).
    pub fn new(sources: Sources, settings: StreamSettings, stop: CancellationToken) -> LiveState {
        LiveState {
            sources,
            settings,
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            stop,
        }
    }
}

/// `GET /ui` and `GET /events`.
pub fn routes(state: LiveState) -> Router {
    Router::new()
        .route("/ui", get(page))
        .route("/events", get(events))
        .with_state(state)
}

const HTML: &str = include_str!("page.html");
const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// The page with its style and script inlined, and the CSP that allows exactly those two and
/// same-origin requests: nothing else runs, loads or is sent anywhere.
pub fn page_and_policy() -> &'static (String, String) {
    static PAGE: OnceLock<(String, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        let hash = |text: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
        };
        let page = HTML.replace("/*STYLE*/", CSS).replace("/*SCRIPT*/", JS);
        let policy = format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            hash(JS),
            hash(CSS)
        );
        (page, policy)
    })
}

async fn page() -> Response {
    let (page, policy) = page_and_policy();
    let mut response = page.as_str().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn events(State(state): State<LiveState>) -> Response {
    let Ok(permit) = Arc::clone(&state.streams).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "error": format!("{MAX_STREAMS} live views are open already; close one")
            })),
        )
            .into_response();
    };
    let stream = Stream::new(state.sources.clone(), state.settings);
    // The permit lives as long as the stream: a closed page frees its place.
    let start = (stream, permit, state.stop.clone());
    let events = futures::stream::unfold(start, |(mut stream, permit, stop)| async move {
        let message = tokio::select! {
            () = stop.cancelled() => None,
            m = stream.next() => m,
        }?;
        let event = Event::default().event(message.event).data(message.data);
        Some((
            Ok::<_, std::convert::Infallible>(event),
            (stream, permit, stop),
        ))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inlined_style_and_script() {
        let (page, policy) = page_and_policy();
        assert!(page.contains(JS) && page.contains(CSS));
        assert!(!page.contains("/*SCRIPT*/") && !page.contains("/*STYLE*/"));
        assert!(policy.starts_with("default-src 'none'; "), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        // One script and one style element, no attribute styles or handlers the policy would block.
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(page.matches("<style").count(), 1);
        assert!(!page.contains(" style=") && !page.contains(" onclick="));
    }
}
