//! The simulator's request journal (NOT part of Ironic's API): a bounded ring of the requests the mock
//! answered, served at `GET /_sim/requests` so tests can count what a client really sent.

use super::{AppState, json_response};
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;

/// How many requests the journal keeps (the oldest are dropped first).
pub const JOURNAL_CAPACITY: usize = 65_536;

/// The path of the journal itself (not recorded).
pub const JOURNAL_PATH: &str = "/_sim/requests";

/// One answered request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// When the request arrived (the mock's clock).
    pub time: DateTime<Utc>,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// `target` of a `states/provision` request.
    pub target: Option<String>,
    /// Status code answered.
    pub status: u16,
}

/// A bounded ring of entries.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    entries: VecDeque<Entry>,
    dropped: u64,
}

impl Journal {
    /// Appends an entry, dropping the oldest beyond capacity.
    pub fn record(&mut self, entry: Entry) {
        if self.entries.len() >= JOURNAL_CAPACITY {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(entry);
    }

    /// Entries in arrival order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The number of the oldest entry kept: entries are numbered from 0 in arrival order, and
    /// those before this one were dropped.
    pub fn first(&self) -> u64 {
        self.dropped
    }

    /// Entries numbered `since` and later (those still kept), in arrival order.
    pub fn entries_since(&self, since: u64) -> impl Iterator<Item = &Entry> {
        let skip = usize::try_from(since.saturating_sub(self.dropped)).unwrap_or(usize::MAX);
        self.entries.iter().skip(skip)
    }
}

/// The query of `GET /_sim/requests`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Since {
    /// Only entries numbered this and later (a reader that keeps up reads each entry once).
    since: Option<u64>,
}

fn provision_target(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("target")?
        .as_str()
        .map(str::to_string)
}

/// Middleware recording every request except the journal's own.
pub(crate) async fn record(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == JOURNAL_PATH {
        return next.run(req).await;
    }
    let time = s.now();
    let method = req.method().clone();
    let (req, target) = if method == Method::PUT && path.ends_with("/states/provision") {
        let (parts, body) = req.into_parts();
        // The listener's limit (`super::BODY_LIMIT`) already bounds the body while it is read;
        // the same bound here keeps the journal bounded under a server without the listener rule.
        match to_bytes(body, super::BODY_LIMIT).await {
            Ok(bytes) => {
                let target = provision_target(&bytes);
                (Request::from_parts(parts, Body::from(bytes)), target)
            }
            Err(e) => {
                let resp = if metal_guard::is_over_limit(&e) {
                    super::ApiError::TooLarge
                } else {
                    super::ApiError::BadRequest("The request body could not be read.".into())
                };
                let resp = axum::response::IntoResponse::into_response(resp);
                s.journal().record(Entry {
                    time,
                    method: method.to_string(),
                    path,
                    target: None,
                    status: resp.status().as_u16(),
                });
                return resp;
            }
        }
    } else {
        (req, None)
    };
    let resp = next.run(req).await;
    s.journal().record(Entry {
        time,
        method: method.to_string(),
        path,
        target,
        status: resp.status().as_u16(),
    });
    resp
}

/// `GET /_sim/requests[?since=N]`: the journal, oldest first; `first` numbers the first entry
/// listed (entries are numbered from 0 in arrival order; `dropped` were pushed out of the ring).
pub(crate) async fn show(
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<Since>,
) -> Response {
    let body = {
        let j = s.journal();
        let since = q.since.unwrap_or(0).max(j.first());
        serde_json::json!({
            "note": "metal-sim request journal; not part of the Ironic API",
            "capacity": JOURNAL_CAPACITY,
            "dropped": j.dropped,
            "first": since.min(j.first() + j.entries.len() as u64),
            "requests": j.entries_since(since).collect::<Vec<_>>(),
        })
    };
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Entry {
        Entry {
            time: DateTime::<Utc>::UNIX_EPOCH,
            method: "GET".into(),
            path: format!("/v1/nodes/{i}"),
            target: None,
            status: 200,
        }
    }

    #[test]
    fn the_journal_keeps_only_the_newest_entries() {
        let mut j = Journal::default();
        for i in 0..(JOURNAL_CAPACITY + 3) {
            j.record(entry(i));
        }
        assert_eq!(j.entries().count(), JOURNAL_CAPACITY);
        assert_eq!(j.dropped, 3);
        assert_eq!(
            j.entries().next().map(|e| e.path.as_str()),
            Some("/v1/nodes/3")
        );
    }

    #[test]
    fn a_reader_that_keeps_up_reads_each_entry_once() {
        let mut j = Journal::default();
        for i in 0..(JOURNAL_CAPACITY + 3) {
            j.record(entry(i));
        }
        let path = |e: Option<&Entry>| e.map(|e| e.path.clone());
        assert_eq!(j.first(), 3);
        assert_eq!(
            j.entries_since(0).count(),
            JOURNAL_CAPACITY,
            "dropped ones are gone"
        );
        assert_eq!(path(j.entries_since(0).next()), Some("/v1/nodes/3".into()));
        let last = (JOURNAL_CAPACITY + 2) as u64;
        assert_eq!(
            path(j.entries_since(last).next()),
            Some(format!("/v1/nodes/{last}"))
        );
        assert_eq!(j.entries_since(last + 1).count(), 0);
        assert_eq!(j.entries_since(u64::MAX).count(), 0);
    }

    #[test]
    fn a_provision_body_names_its_target() {
        assert_eq!(
            provision_target(br#"{"target": "active", "configdrive": "x"}"#),
            Some("active".into())
        );
        assert_eq!(provision_target(b"not json"), None);
    }
}
