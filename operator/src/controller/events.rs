//! Publishing Kubernetes Events (`events.k8s.io/v1`) with a bounded memory of what was sent.
//!
//! An Event repeated on the same object (same type, action and reason, from the same controller)
//! within [`SERIES_WINDOW`] is not created again: the first one's `series` count goes up, as
//! client-go and kube-runtime do. kube-runtime's recorder keeps every Event it sent for that
//! window, whole, in an unbounded map it scans on every publish; at 1 000 hosts that map was the
//! operator's largest allocation (35 MiB of a 136 MiB heap peak, heaptrack on the head-to-head
//! benchmark). Here [`SeriesCache`] keeps only the Event's name and count, at most
//! [`CACHE_LIMIT`] entries (client-go's event cache size), oldest out first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use serde_json::json;
use tokio::time::Instant;

/// Repeats within this window extend the first Event's series.
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// Events remembered at most.
pub const CACHE_LIMIT: usize = 4096;

/// What to send for an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    /// A new Event.
    Create,
    /// The `count`th occurrence of the Event `namespace/name`.
    Series {
        namespace: String,
        name: String,
        count: i32,
    },
}

#[derive(Clone, Debug)]
struct Seen {
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

/// The Events sent recently, by key: a name and a count each, never more than `limit`.
#[derive(Debug)]
pub struct SeriesCache {
    entries: HashMap<String, Seen>,
    /// Keys in order of first sending; the front goes out first when full.
    order: VecDeque<String>,
    limit: usize,
    window: Duration,
}

impl Default for SeriesCache {
    fn default() -> Self {
        Self::new(CACHE_LIMIT, SERIES_WINDOW)
    }
}

impl SeriesCache {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            limit: limit.max(1),
            window,
        }
    }

    /// Events remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What to send for the Event `key` at `now` (and counts it when it extends a series).
    pub fn next(&mut self, key: &str, now: Instant) -> Send {
        match self.entries.get_mut(key) {
            Some(seen) if now.saturating_duration_since(seen.last) < self.window => {
                seen.count = seen.count.saturating_add(1);
                seen.last = now;
                Send::Series {
                    namespace: seen.namespace.clone(),
                    name: seen.name.clone(),
                    count: seen.count,
                }
            }
            _ => Send::Create,
        }
    }

    /// Remembers that the Event `key` was created as `namespace/name` at `now`.
    pub fn created(&mut self, key: &str, namespace: &str, name: &str, now: Instant) {
        let seen = Seen {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            count: 1,
            last: now,
        };
        if self.entries.insert(key.to_owned(), seen).is_some() {
            return;
        }
        self.order.push_back(key.to_owned());
        while self.entries.len() > self.limit {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Forgets the Event `key` (its series could not be extended).
    pub fn forget(&mut self, key: &str) {
        if self.entries.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

/// Publishes Events as one controller (`reportingController`) and replica (`reportingInstance`).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    reporter: Reporter,
    cache: Arc<Mutex<SeriesCache>>,
}

fn type_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

impl Recorder {
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            cache: Arc::default(),
        }
    }

    fn key(ev: &Event, regarding: &ObjectReference) -> String {
        let part = |s: &Option<String>| s.clone().unwrap_or_default();
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            type_name(ev.type_),
            ev.action,
            ev.reason,
            part(&regarding.kind),
            part(&regarding.namespace),
            part(&regarding.name),
            part(&regarding.uid),
        )
    }

    fn event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let object = regarding
            .name
            .clone()
            .unwrap_or_else(|| self.reporter.controller.clone());
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!("{object}.{:x}", now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(type_name(ev.type_).to_owned()),
            related: ev.secondary.clone(),
            ..K8sEvent::default()
        }
    }

    /// Creates the Event on `regarding`, or extends its series when it was sent within
    /// [`SERIES_WINDOW`]. Cluster-scoped objects get their Events in `default`.
    pub async fn publish(&self, ev: &Event, regarding: &ObjectReference) -> kube::Result<()> {
        let key = Self::key(ev, regarding);
        let send = match self.cache.lock() {
            Ok(mut cache) => cache.next(&key, Instant::now()),
            Err(_) => Send::Create,
        };
        let now = Timestamp::now();
        if let Send::Series {
            namespace,
            name,
            count,
        } = send
        {
            let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
            let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Gone (the apiserver expires Events) or refused: start a new one.
                Err(_) => {
                    if let Ok(mut cache) = self.cache.lock() {
                        cache.forget(&key);
                    }
                }
            }
        }
        let event = self.event(ev, regarding, now);
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let created = api.create(&PostParams::default(), &event).await?;
        if let (Ok(mut cache), Some(name)) = (self.cache.lock(), created.metadata.name) {
            cache.created(&key, &namespace, &name, Instant::now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_extends_the_series_and_one_after_it_is_new() {
        let mut cache = SeriesCache::new(10, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(cache.next("k", t0), Send::Create);
        cache.created("k", "ns", "host.1", t0);
        let series = |count| Send::Series {
            namespace: "ns".into(),
            name: "host.1".into(),
            count,
        };
        assert_eq!(cache.next("k", t0 + Duration::from_secs(30)), series(2));
        // The window counts from the last occurrence.
        assert_eq!(cache.next("k", t0 + Duration::from_secs(80)), series(3));
        assert_eq!(cache.next("k", t0 + Duration::from_secs(141)), Send::Create);
        assert_eq!(cache.next("other", t0), Send::Create);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_limit_and_drops_the_oldest() {
        let mut cache = SeriesCache::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..10 {
            let key = format!("k{i}");
            assert_eq!(cache.next(&key, t0), Send::Create);
            cache.created(&key, "ns", &format!("e{i}"), t0);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.next("k6", t0), Send::Create, "k6 was dropped");
        assert!(matches!(
            cache.next("k9", t0),
            Send::Series { count: 2, .. }
        ));
        cache.forget("k9");
        assert_eq!(cache.next("k9", t0), Send::Create);
        assert_eq!(cache.len(), 2);
    }
}
