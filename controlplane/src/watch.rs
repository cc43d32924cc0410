//! Watch streams: newline-delimited `{"type", "object"}` events, starting from a resourceVersion
//! (or with synthetic ADDED events for the current objects, ended by a BOOKMARK annotated
//! `k8s.io/initial-events-end` when bookmarks are allowed), with periodic BOOKMARKs when asked,
//! and an ERROR event carrying a 410 Expired Status when the start is
//! older than the history (or the watcher fell too far behind); the disconnect switch
//! (`super::disconnect`) ends every stream at once. With a selector, an object that starts
//! matching arrives as ADDED and one that stops matching as DELETED (its previous state), as the
//! real watch cache sends them. Table watches carry the column definitions in the first event only.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::State;
use super::lifecycle::present;
use super::resource::Resource;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Change, ChangeKind};
use super::table;

/// What a watch asks for.
pub struct WatchRequest {
    pub res: Resource,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// None or 0: start with the current objects.
    pub from: Option<u64>,
    /// Start with the current objects whatever `from` says (`sendInitialEvents=true`).
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub table: bool,
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

struct Filter {
    req: WatchRequest,
    now: super::Clock,
    /// A Table watch has sent its column definitions.
    columns_sent: std::sync::atomic::AtomicBool,
}

impl Filter {
    fn selects(&self, stored: &Value) -> bool {
        let obj = present(&self.req.res, stored);
        self.req.labels.matches(&obj) && self.req.fields.matches(&obj)
    }

    /// The event line for `stored` when the watch selects it.
    fn render(&self, change_kind: &str, stored: &Value) -> Option<Bytes> {
        self.selects(stored).then(|| self.line(change_kind, stored))
    }

    fn line(&self, change_kind: &str, stored: &Value) -> Bytes {
        let obj = present(&self.req.res, stored);
        let obj = if self.req.table {
            let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)});
            let mut t = table::table(
                &self.req.res,
                std::slice::from_ref(&obj),
                meta,
                "Metadata",
                (self.now)(),
            );
            if self
                .columns_sent
                .swap(true, std::sync::atomic::Ordering::Relaxed)
                && let Some(m) = t.as_object_mut()
            {
                m.remove("columnDefinitions");
            }
            t
        } else {
            obj
        };
        line(change_kind, obj)
    }

    /// The event a change makes for this watch: a modification that enters the selection is
    /// ADDED, one that leaves it is DELETED with the previous state at the change's version.
    fn event(&self, c: &Change) -> Option<Bytes> {
        match (c.kind, &c.prev) {
            (ChangeKind::Modified, Some(prev)) => {
                match (self.selects(prev), self.selects(&c.object)) {
                    (true, true) => self.render("MODIFIED", &c.object),
                    (false, true) => self.render("ADDED", &c.object),
                    (true, false) => {
                        let mut gone = prev.clone();
                        if let Some(m) = gone.get_mut("metadata").and_then(Value::as_object_mut) {
                            m.insert("resourceVersion".into(), Value::from(c.rv.to_string()));
                        }
                        Some(self.line("DELETED", &gone))
                    }
                    (false, false) => None,
                }
            }
            _ => self.render(c.kind.wire(), &c.object),
        }
    }

    fn accepts(&self, c: &Change) -> bool {
        c.storage == self.req.res.storage
            && self
                .req
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == c.namespace)
    }
}

/// A BOOKMARK at `rv`; `initial_end` marks the end of the synthetic initial events.
fn bookmark(res: &Resource, rv: u64, initial_end: bool) -> Bytes {
    let mut mark = json!({
        "kind": res.kind, "apiVersion": res.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}
    });
    if initial_end {
        mark["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line("BOOKMARK", mark)
}

fn expired(message: &str) -> Bytes {
    line("ERROR", ApiError::gone(message).body())
}

/// Starts a watch; the body streams until the timeout, the client leaving or the server stopping.
pub fn start(state: Arc<State>, req: WatchRequest) -> Result<Body, ApiError> {
    if state.cuts.refusing(state.now()) {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            "watches are disconnected by the simulator; retry",
        ));
    }
    let mut cut = state.cuts.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut initial: Vec<Bytes> = Vec::new();
    let filter = Filter {
        req,
        now: Arc::clone(&state.clock),
        columns_sent: std::sync::atomic::AtomicBool::new(false),
    };
    let storage = filter.req.res.storage.clone();
    let (live, mut last_rv) = {
        let objects = state.objects.lock().map_err(|_| {
            ApiError::new(500, "InternalError", "control plane state lock poisoned")
        })?;
        let from = filter
            .req
            .from
            .filter(|rv| *rv > 0 && !filter.req.send_initial_events);
        match from {
            None => {
                for (_, obj) in objects.list(&storage, filter.req.namespace.as_deref()) {
                    initial.extend(filter.render("ADDED", obj));
                }
                let rv = objects.rv();
                if filter.req.bookmarks {
                    initial.push(bookmark(&filter.req.res, rv, true));
                }
                match objects.subscribe(&storage, rv) {
                    Ok(sub) => (Some(sub.live), rv),
                    Err(e) => return Err(ApiError::gone(e.to_string())),
                }
            }
            Some(from) => match objects.subscribe(&storage, from) {
                Ok(sub) => {
                    let mut rv = from;
                    for c in sub.backlog.iter().filter(|c| filter.accepts(c)) {
                        initial.extend(filter.event(c));
                        rv = c.rv;
                    }
                    (Some(sub.live), rv.max(from))
                }
                Err(e) => {
                    initial.push(expired(&e.to_string()));
                    (None, from)
                }
            },
        }
    };
    let interval = state.bookmark_interval;
    tokio::spawn(async move {
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let Some(mut live) = live else {
            return;
        };
        let deadline = tokio::time::sleep(filter.req.timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                // The disconnect switch: end the stream as a dropped connection would.
                _ = cut.changed() => return,
                _ = tick.tick(), if filter.req.bookmarks => {
                    // Only what this watch has seen: a later rv could skip queued changes.
                    if tx.send(bookmark(&filter.req.res, last_rv, false)).await.is_err() {
                        return;
                    }
                }
                got = live.recv() => match got {
                    Ok(change) => {
                        if change.rv <= last_rv {
                            continue;
                        }
                        last_rv = change.rv;
                        if !filter.accepts(&change) {
                            continue;
                        }
                        if let Some(b) = filter.event(&change)
                            && tx.send(b).await.is_err() {
                                return;
                            }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // The watcher fell behind the fan-out buffer: make it re-list.
                        let _ = tx.send(expired("the watch fell behind; re-list")).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(Body::from_stream(stream))
}
