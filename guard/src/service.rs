use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::{Body, HttpBody};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::Limited;
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

use crate::Limits;

/// A server's service under the per-request part of the rule: the body limit, the concurrency
/// limit and the request timeout of its [`Limits`]. [`crate::serve`] wraps the service it is
/// given in one; tests may use it directly.
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    limits: Arc<Limits>,
    permits: Arc<Semaphore>,
}

impl<S> Guarded<S> {
    /// Wraps `inner` under `limits`.
    pub fn new(inner: S, limits: Limits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_concurrent_requests));
        Self {
            inner,
            limits: Arc::new(limits),
            permits,
        }
    }
}

/// A refusal of the rule's own, closing the connection (the request may be half read).
fn refusal(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn declared_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl<S, B> Service<Request<B>> for Guarded<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is readied per request (`oneshot`), after the limits have judged it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = self.limits.body_limit;
        if declared_length(&request).is_some_and(|n| n > limit as u64) {
            return ready(refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large\n",
            ));
        }
        let exempt = self
            .limits
            .exempt_paths
            .iter()
            .any(|p| p == request.uri().path());
        let permit = if exempt {
            None
        } else {
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    return ready(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many requests in flight\n",
                    ));
                }
            }
        };
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Body::new(Limited::new(body, limit)));
        let inner = self.inner.clone();
        let timeout = self.limits.request_timeout;
        Box::pin(async move {
            let answered = tokio::time::timeout(timeout, inner.oneshot(request)).await;
            drop(permit);
            match answered {
                Ok(result) => result,
                Err(_elapsed) => Ok(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "request not answered in time\n",
                )),
            }
        })
    }
}

/// Whether `error` (from reading a request body) is the body limit's: a handler reading the body
/// itself answers 413 for it, and its own error for anything else (a client gone mid-body).
pub fn is_over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

fn ready<E: Send + 'static>(
    response: Response,
) -> Pin<Box<dyn Future<Output = Result<Response, E>> + Send>> {
    Box::pin(std::future::ready(Ok(response)))
}
