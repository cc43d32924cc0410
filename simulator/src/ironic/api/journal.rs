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
    /// The name of the node the request is about, so a reader can tie a request to its node
    /// whatever identifier the path uses: the `name` a `POST /v1/nodes` asked for; for
    /// `/v1/nodes/{ident}/…` and `/v1/heartbeat/{ident}`, the name of the node `ident` named when
    /// the request arrived. Absent for other requests and nodes without a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
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

/// The string `field` of a JSON request body (a provision request's `target`, a new node's
/// `name`); nothing else of the body is kept (a node's body holds BMC credentials).
fn body_field(body: &[u8], field: &str) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get(field)?
        .as_str()
        .map(str::to_string)
}

/// Which field of the request body the journal keeps, if any: `target` of a provision request,
/// `name` of a node creation.
fn kept_field(method: &Method, path: &str) -> Option<&'static str> {
    if *method == Method::PUT && path.ends_with("/states/provision") {
        Some("target")
    } else if *method == Method::POST && matches!(path, "/v1/nodes" | "/v1/nodes/") {
        Some("name")
    } else {
        None
    }
}

/// The node identifier in the path of a node or heartbeat request.
fn path_ident(path: &str) -> Option<&str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "nodes", "detail"] => None,
        ["v1", "nodes", ident, ..] | ["v1", "heartbeat", ident] => Some(ident),
        _ => None,
    }
}

/// Middleware recording every request except the journal's own.
pub(crate) async fn record(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == JOURNAL_PATH {
        return next.run(req).await;
    }
    let time = s.now();
    let method = req.method().clone();
    // Looked up before the handler runs: a deleted node is gone after it.
    let named = path_ident(&path).and_then(|ident| s.lock().node_name(ident));
    let (req, field) = match kept_field(&method, &path) {
        Some(field) => {
            let (parts, body) = req.into_parts();
            // The listener's limit (`super::BODY_LIMIT`) already bounds the body while it is read;
            // the same bound here keeps the journal bounded under a server without the listener rule.
            match to_bytes(body, super::BODY_LIMIT).await {
                Ok(bytes) => {
                    let value = body_field(&bytes, field);
                    (Request::from_parts(parts, Body::from(bytes)), value)
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
                        node: named,
                        status: resp.status().as_u16(),
                    });
                    return resp;
                }
            }
        }
        None => (req, None),
    };
    let (target, node) = if method == Method::POST {
        (None, field)
    } else {
        (field, named)
    };
    let resp = next.run(req).await;
    s.journal().record(Entry {
        time,
        method: method.to_string(),
        path,
        target,
        node,
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
            node: None,
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
            body_field(br#"{"target": "active", "configdrive": "x"}"#, "target"),
            Some("active".into())
        );
        assert_eq!(body_field(b"not json", "target"), None);
    }

    #[test]
    fn node_and_heartbeat_paths_name_their_node() {
        assert_eq!(path_ident("/v1/nodes/abc/states/provision"), Some("abc"));
        assert_eq!(path_ident("/v1/nodes/ns~h"), Some("ns~h"));
        assert_eq!(path_ident("/v1/heartbeat/abc"), Some("abc"));
        assert_eq!(path_ident("/v1/nodes"), None);
        assert_eq!(path_ident("/v1/nodes/detail"), None);
        assert_eq!(path_ident("/v1/ports/abc"), None);
    }
}
