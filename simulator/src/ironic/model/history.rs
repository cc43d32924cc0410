//! A node's history (`/v1/nodes/{id}/history`, from 1.78): the events Ironic records against a
//! node — here, as in Ironic with the fake and simulated drivers, every failure that sets its
//! `last_error` — and their documents per microversion (`project` from 1.113; `state`,
//! `target_provision_state` and `duration_seconds` from 1.115), the event text shortened in a
//! listing without `detail`.

use super::CONDUCTOR_HOST;
use crate::ironic::encoding::Doc;
use crate::ironic::version::Version;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// The microversion node history appeared in.
pub const HISTORY_VERSION: u32 = 78;
/// The most events kept per node (Ironic's `[conductor] node_history_max_size`).
pub const HISTORY_KEPT: usize = 300;

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// Its UUID.
    pub uuid: Uuid,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// `ERROR` or `INFO`.
    pub severity: &'static str,
    /// What the node was doing (`cleaning`, `deploying`, …).
    pub event_type: String,
    /// The text.
    pub event: String,
    /// The node's provision state then.
    pub state: String,
    /// Its target provision state then.
    pub target_provision_state: Option<String>,
    /// Seconds since the node's last provision state change.
    pub duration_seconds: Option<i64>,
}

impl HistoryEvent {
    /// The event's document for node `node` at `version`: all fields with `detail`, else the
    /// standard four with the text cut to 255 characters.
    pub fn document(&self, base: &str, node: Uuid, version: Version, detail: bool) -> Doc {
        let mut d = Doc::new();
        d.put("uuid", self.uuid.to_string());
        d.put("created_at", super::ts(Some(self.created_at)));
        d.put("severity", self.severity);
        if detail {
            d.put("event_type", self.event_type.clone());
            d.put("event", self.event.clone());
            d.put("conductor", CONDUCTOR_HOST);
            d.put("user", Value::Null);
            if version.at_least(113) {
                d.put("project", Value::Null);
            }
            if version.at_least(115) {
                d.put("state", self.state.clone());
                d.put(
                    "target_provision_state",
                    self.target_provision_state.clone(),
                );
                d.put("duration_seconds", self.duration_seconds);
            }
        } else {
            d.put("event", shortened(&self.event));
        }
        let href = format!("{base}/v1/nodes/{node}/history/{}", self.uuid);
        d.put("links", json!([{"href": href, "rel": "self"}]));
        d
    }
}

/// A listing's event text: at most 255 characters, a longer one cut to 251 and `...`.
fn shortened(event: &str) -> String {
    if event.chars().count() > 255 {
        let head: String = event.chars().take(251).collect();
        format!("{head}...")
    } else {
        event.to_string()
    }
}

/// Appends `event` to `history`, dropping the oldest beyond [`HISTORY_KEPT`].
pub fn record(history: &mut Vec<HistoryEvent>, event: HistoryEvent) {
    history.push(event);
    if history.len() > HISTORY_KEPT {
        let extra = history.len() - HISTORY_KEPT;
        history.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> HistoryEvent {
        HistoryEvent {
            uuid: Uuid::nil(),
            created_at: DateTime::UNIX_EPOCH,
            severity: "ERROR",
            event_type: "cleaning".into(),
            event: text.into(),
            state: "clean failed".into(),
            target_provision_state: Some("manageable".into()),
            duration_seconds: Some(0),
        }
    }

    #[test]
    fn listings_shorten_long_events_and_detail_grows_with_the_microversion() {
        let long = "x".repeat(300);
        let d = event(&long).document("", Uuid::nil(), Version::v1(89), false);
        let shown = d.get("event").and_then(Value::as_str).unwrap();
        assert_eq!(shown.len(), 254);
        assert!(shown.ends_with("..."));
        let keys = |v: u32| -> Vec<String> {
            event("e")
                .document("", Uuid::nil(), Version::v1(v), true)
                .0
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(
            keys(89),
            [
                "uuid",
                "created_at",
                "severity",
                "event_type",
                "event",
                "conductor",
                "user",
                "links"
            ]
        );
        assert!(keys(113).contains(&"project".to_string()));
        assert!(keys(115).contains(&"duration_seconds".to_string()));
    }

    #[test]
    fn the_oldest_events_go_first() {
        let mut h = Vec::new();
        for i in 0..HISTORY_KEPT + 2 {
            record(&mut h, event(&i.to_string()));
        }
        assert_eq!(h.len(), HISTORY_KEPT);
        assert_eq!(h[0].event, "2");
    }
}
