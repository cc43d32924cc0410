//! The simulator's API fault switch (NOT part of Ironic's API): `POST /_sim/faults` makes a seeded
//! fraction of the operator-facing API answer a 5xx for a bounded window (and, optionally, at most
//! a number of times); `DELETE /_sim/faults` ends it and `GET /_sim/faults` shows it. The agent's
//! own endpoints (lookup, heartbeat, continue_inspection) and the `/_sim` endpoints are never
//! failed, as in engine mode, where the fault applies to the operator's requests only.

use super::{AppState, json_response};
use crate::ironic::error::ApiError;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

/// The path of the switch.
pub const FAULTS_PATH: &str = "/_sim/faults";

/// Longest window one request may switch the fault on for (seconds).
pub const MAX_WINDOW_SECONDS: f64 = 3600.0;

/// Agent-facing paths the switch never fails.
const AGENT_PATHS: [&str; 3] = ["/v1/lookup", "/v1/heartbeat/", "/v1/continue_inspection"];

/// What `POST /_sim/faults` takes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Fraction (0..=1) of API requests answered with `status`.
    pub http_5xx_rate: f64,
    /// Status of the injected answers (500..=599, default 503).
    #[serde(default)]
    pub status: Option<u16>,
    /// How long the fault lasts, in seconds (> 0, at most one hour).
    pub for_seconds: f64,
    /// Stop after this many injected failures (no limit besides the window when absent).
    #[serde(default)]
    pub max_failures: Option<u64>,
}

/// Why a fault request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// The rate is not a fraction.
    #[error("http_5xx_rate must be between 0 and 1, got {0}")]
    Rate(f64),
    /// The status is not a server error.
    #[error("status must be between 500 and 599, got {0}")]
    Status(u16),
    /// The window is empty, unbounded or too long.
    #[error("for_seconds must be above 0 and at most {MAX_WINDOW_SECONDS}, got {0}")]
    Window(f64),
}

/// The fault in force, if any, and the seeded draws.
#[derive(Debug, Clone)]
pub struct FaultSwitch {
    rate: f64,
    status: StatusCode,
    until: Option<DateTime<Utc>>,
    remaining: Option<u64>,
    injected: u64,
    rng: ChaCha8Rng,
}

/// What `GET /_sim/faults` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultView {
    /// Whether a fault is in force now.
    pub active: bool,
    /// Its rate (0 when none).
    pub http_5xx_rate: f64,
    /// Its status.
    pub status: u16,
    /// When it ends.
    pub until: Option<DateTime<Utc>>,
    /// Failures still allowed (absent: only the window bounds it).
    pub remaining: Option<u64>,
    /// Failures injected since the mock started.
    pub injected: u64,
}

impl FaultSwitch {
    /// An idle switch; `seed` drives which requests fail.
    pub fn new(seed: u64) -> Self {
        FaultSwitch {
            rate: 0.0,
            status: StatusCode::SERVICE_UNAVAILABLE,
            until: None,
            remaining: None,
            injected: 0,
            // A stream of its own, so switching faults on does not shift the mock's UUIDs.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5f5e_100f_a017),
        }
    }

    /// Switches the fault on from `now` (replacing any in force).
    pub fn set(&mut self, request: &FaultRequest, now: DateTime<Utc>) -> Result<(), FaultError> {
        if !(0.0..=1.0).contains(&request.http_5xx_rate) {
            return Err(FaultError::Rate(request.http_5xx_rate));
        }
        let status = request.status.unwrap_or(503);
        let status = match StatusCode::from_u16(status) {
            Ok(s) if s.is_server_error() => s,
            _ => return Err(FaultError::Status(status)),
        };
        let window = request.for_seconds;
        if !(window > 0.0 && window <= MAX_WINDOW_SECONDS) {
            return Err(FaultError::Window(window));
        }
        let millis = (window * 1000.0).round() as i64;
        self.rate = request.http_5xx_rate;
        self.status = status;
        self.until = Some(now + chrono::Duration::milliseconds(millis.max(1)));
        self.remaining = request.max_failures;
        Ok(())
    }

    /// Ends the fault.
    pub fn clear(&mut self) {
        self.rate = 0.0;
        self.until = None;
        self.remaining = None;
    }

    /// Fails a fraction `rate` of requests with `status` (default 503, any 5xx) until cleared:
    /// engine mode's Ironic API fault, which has no window of its own (its scenario clears it).
    pub fn hold(&mut self, rate: f64, status: Option<u16>) {
        self.rate = rate.clamp(0.0, 1.0);
        self.status = status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .filter(StatusCode::is_server_error)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        self.until = None;
        self.remaining = None;
    }

    fn active(&self, now: DateTime<Utc>) -> bool {
        self.rate > 0.0 && self.until.is_none_or(|u| now < u) && self.remaining != Some(0)
    }

    /// Draws for one API request at `now`: the status to answer with, or None to serve it.
    pub fn draw(&mut self, now: DateTime<Utc>) -> Option<StatusCode> {
        if !self.active(now) {
            return None;
        }
        let hit = self.rate >= 1.0 || self.rng.random_bool(self.rate);
        if !hit {
            return None;
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= 1;
        }
        self.injected += 1;
        Some(self.status)
    }

    /// The switch as `GET /_sim/faults` shows it.
    pub fn view(&self, now: DateTime<Utc>) -> FaultView {
        let active = self.active(now);
        FaultView {
            active,
            http_5xx_rate: if active { self.rate } else { 0.0 },
            status: self.status.as_u16(),
            until: self.until.filter(|_| active),
            remaining: self.remaining.filter(|_| active),
            injected: self.injected,
        }
    }
}

fn is_operator_api(path: &str) -> bool {
    path.starts_with("/v1") && !AGENT_PATHS.iter().any(|p| path.starts_with(p))
}

/// Middleware failing the drawn share of operator-facing API requests while a fault is on.
pub(crate) async fn inject(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if is_operator_api(req.uri().path()) {
        let now = s.now();
        if let Some(status) = s.faults().draw(now) {
            tracing::debug!(status = status.as_u16(), "injected Ironic API failure");
            return ApiError::Injected(status).into_response();
        }
    }
    next.run(req).await
}

/// `GET /_sim/faults`.
pub(crate) async fn show(State(s): State<AppState>) -> Response {
    let view = s.faults().view(s.now());
    json_response(StatusCode::OK, &view)
}

/// `POST /_sim/faults`.
pub(crate) async fn set(
    State(s): State<AppState>,
    body: Result<Json<FaultRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => return ApiError::BadRequest(e.body_text()).into_response(),
    };
    let now = s.now();
    let mut switch = s.faults();
    match switch.set(&request, now) {
        Ok(()) => {
            tracing::info!(
                rate = request.http_5xx_rate,
                seconds = request.for_seconds,
                "Ironic API fault switched on"
            );
            json_response(StatusCode::OK, &switch.view(now))
        }
        Err(e) => ApiError::BadRequest(e.to_string()).into_response(),
    }
}

/// The simulator-only switch (NOT Ironic's API) that restarts the mock on an empty database.
pub const DATABASE_LOST_PATH: &str = "/_sim/lose-database";

/// `POST /_sim/lose-database`: every node and port forgotten, as an Ironic restarted on a fresh
/// database; answers 204.
pub(crate) async fn lose_database(State(s): State<AppState>) -> Response {
    s.lose_database();
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_sim/faults`.
pub(crate) async fn clear(State(s): State<AppState>) -> Response {
    let now = s.now();
    let mut switch = s.faults();
    switch.clear();
    tracing::info!("Ironic API fault switched off");
    json_response(StatusCode::OK, &switch.view(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(seconds)
    }

    fn request(rate: f64, seconds: f64, max: Option<u64>) -> FaultRequest {
        FaultRequest {
            http_5xx_rate: rate,
            status: Some(502),
            for_seconds: seconds,
            max_failures: max,
        }
    }

    #[test]
    fn an_idle_switch_fails_nothing() {
        let mut s = FaultSwitch::new(1);
        assert!((0..100).all(|_| s.draw(at(0)).is_none()));
    }

    #[test]
    fn a_full_rate_fails_every_request_until_the_window_ends() {
        let mut s = FaultSwitch::new(1);
        s.set(&request(1.0, 10.0, None), at(0)).unwrap();
        assert_eq!(s.draw(at(5)), Some(StatusCode::BAD_GATEWAY));
        assert_eq!(s.draw(at(10)), None);
        assert_eq!(s.view(at(5)).injected, 1);
    }

    #[test]
    fn max_failures_bounds_the_injected_count() {
        let mut s = FaultSwitch::new(1);
        s.set(&request(1.0, 60.0, Some(3)), at(0)).unwrap();
        let hits = (0..10).filter(|_| s.draw(at(1)).is_some()).count();
        assert_eq!(hits, 3);
        assert!(!s.view(at(1)).active);
    }

    #[test]
    fn a_partial_rate_fails_some_and_the_same_seed_fails_the_same_ones() {
        let draws = |seed| {
            let mut s = FaultSwitch::new(seed);
            s.set(&request(0.3, 60.0, None), at(0)).unwrap();
            (0..1000)
                .map(|_| s.draw(at(1)).is_some())
                .collect::<Vec<_>>()
        };
        let a = draws(7);
        let hits = a.iter().filter(|h| **h).count();
        assert!((200..400).contains(&hits), "{hits} of 1000");
        assert_eq!(a, draws(7));
    }

    #[test]
    fn clearing_ends_the_fault_at_once() {
        let mut s = FaultSwitch::new(1);
        s.set(&request(1.0, 60.0, None), at(0)).unwrap();
        s.clear();
        assert_eq!(s.draw(at(1)), None);
    }

    #[test]
    fn out_of_range_requests_are_refused_with_the_value() {
        let mut s = FaultSwitch::new(1);
        assert_eq!(
            s.set(&request(1.5, 1.0, None), at(0)),
            Err(FaultError::Rate(1.5))
        );
        assert_eq!(
            s.set(&request(0.5, 0.0, None), at(0)),
            Err(FaultError::Window(0.0))
        );
        assert_eq!(
            s.set(&request(0.5, 7200.0, None), at(0)),
            Err(FaultError::Window(7200.0))
        );
        let mut bad_status = request(0.5, 1.0, None);
        bad_status.status = Some(404);
        assert_eq!(s.set(&bad_status, at(0)), Err(FaultError::Status(404)));
    }

    #[test]
    fn agent_endpoints_are_never_failed() {
        assert!(is_operator_api("/v1/nodes/abc/states/provision"));
        assert!(!is_operator_api("/v1/heartbeat/abc"));
        assert!(!is_operator_api("/v1/lookup"));
        assert!(!is_operator_api("/v1/continue_inspection"));
        assert!(!is_operator_api("/_sim/requests"));
    }
}
