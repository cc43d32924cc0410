//! Client-side QPS/burst limiting for the Kubernetes client: a token bucket as a tower layer.
//!
//! kube's `Client` drives its service through a buffer that calls `poll_ready` before each
//! request, so waiting for a token in `poll_ready` paces every request the operator sends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// Requests per second and burst size; `qps <= 0` disables limiting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThrottleSettings {
    pub qps: f32,
    pub burst: u32,
}

/// Wraps a service in a [`Throttle`].
#[derive(Clone, Copy, Debug)]
pub struct ThrottleLayer(pub ThrottleSettings);

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttle::new(inner, self.0)
    }
}

/// A token bucket in front of `inner`.
pub struct Throttle<S> {
    inner: S,
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    holds_token: bool,
}

impl<S> Throttle<S> {
    pub fn new(inner: S, settings: ThrottleSettings) -> Self {
        let capacity = f64::from(settings.burst.max(1));
        Self {
            inner,
            rate: f64::from(settings.qps),
            capacity,
            tokens: capacity,
            refilled_at: None,
            sleep: None,
            holds_token: false,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(at) = self.refilled_at {
            let earned = now.saturating_duration_since(at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + earned).min(self.capacity);
        }
        self.refilled_at = Some(now);
    }

    fn poll_token(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.holds_token || self.rate <= 0.0 || !self.rate.is_finite() {
            self.holds_token = true;
            return Poll::Ready(());
        }
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            self.refill(Instant::now());
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                self.holds_token = true;
                return Poll::Ready(());
            }
            let wait = Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).min(3600.0));
            self.sleep = Some(Box::pin(tokio::time::sleep(wait)));
        }
    }
}

impl<S, R> Service<R> for Throttle<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.poll_token(cx).is_pending() {
            return Poll::Pending;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.holds_token = false;
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    async fn send_n(settings: ThrottleSettings, n: usize) -> Duration {
        let mut svc = Throttle::new(
            tower::service_fn(|_: ()| async { Ok::<_, Infallible>(()) }),
            settings,
        );
        let start = Instant::now();
        for _ in 0..n {
            svc.ready().await.unwrap().call(()).await.unwrap();
        }
        start.elapsed()
    }

    #[tokio::test]
    async fn a_burst_passes_at_once_then_requests_are_paced_at_qps() {
        let took = send_n(
            ThrottleSettings {
                qps: 100.0,
                burst: 3,
            },
            3,
        )
        .await;
        assert!(took < Duration::from_millis(20), "burst took {took:?}");
        // 3 from the burst, then 5 more at 10 ms each.
        let took = send_n(
            ThrottleSettings {
                qps: 100.0,
                burst: 3,
            },
            8,
        )
        .await;
        assert!(
            took >= Duration::from_millis(45) && took < Duration::from_millis(500),
            "took {took:?}"
        );
    }

    #[tokio::test]
    async fn zero_qps_disables_limiting() {
        let took = send_n(ThrottleSettings { qps: 0.0, burst: 1 }, 100).await;
        assert!(took < Duration::from_millis(50), "took {took:?}");
    }
}
