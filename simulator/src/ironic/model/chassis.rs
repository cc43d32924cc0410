//! Chassis: a grouping of nodes with a description and `extra`, and their JSON shapes.

use super::{Shape, links, stamped};
use crate::ironic::encoding::Doc;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Fields a chassis listing or `fields=` may name (Ironic's schema lists these).
pub const CHASSIS_FIELDS: [&str; 7] = [
    "created_at",
    "description",
    "extra",
    "links",
    "nodes",
    "updated_at",
    "uuid",
];

/// The longest description Ironic stores.
pub const DESCRIPTION_MAX: usize = 255;

/// A chassis.
#[derive(Debug, Clone, PartialEq)]
pub struct Chassis {
    /// Creation order (the table's `id`).
    pub id: u64,
    /// Chassis UUID.
    pub uuid: Uuid,
    /// Free text, at most [`DESCRIPTION_MAX`] characters.
    pub description: Option<String>,
    /// Free-form data.
    pub extra: Map<String, Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Chassis {
    /// The full document in Ironic's key order. Ironic 39 writes `nodes` as a list holding the
    /// list of links (a one-element tuple in its code); clients read it as it is, so it is kept.
    pub fn document(&self, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        let id = self.uuid.to_string();
        d.put(
            "description",
            self.description.clone().map_or(Value::Null, Value::String),
        );
        d.put("extra", Value::Object(self.extra.clone()));
        d.put("links", links(base, &format!("chassis/{id}")));
        d.put(
            "nodes",
            Value::Array(vec![links(base, &format!("chassis/{id}/nodes"))]),
        );
        d
    }

    /// The document a client sees.
    pub fn render(&self, base: &str, shape: &Shape) -> Doc {
        let mut d = self.document(base);
        match shape {
            Shape::Detail => {}
            Shape::List => {
                d.retain_keys(&["uuid".into(), "description".into(), "links".into()]);
            }
            Shape::Fields(f) => {
                let mut keep = f.clone();
                keep.push("links".to_string());
                d.retain_keys(&keep);
            }
        }
        d
    }
}
