//! Network ports and their JSON shapes per microversion.

use super::{Shape, links, stamped};
use crate::ironic::encoding::Doc;
use crate::ironic::version::Version;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// A network port of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// Port UUID.
    pub uuid: Uuid,
    /// Lower-case MAC address.
    pub address: String,
    /// Owning node.
    pub node_uuid: Uuid,
    /// PXE-capable.
    pub pxe_enabled: bool,
    /// Other fields keyed by Ironic name (extra, local_link_connection, physical_network, name, ...).
    pub misc: Map<String, Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Minimum microversion of each versioned port field.
pub fn port_field_min_version(field: &str) -> u32 {
    match field {
        "internal_info" => 18,
        "local_link_connection" | "pxe_enabled" => 19,
        "portgroup_uuid" => 24,
        "physical_network" => 34,
        "is_smartnic" => 53,
        "name" => 88,
        "description" => 97,
        "vendor" | "category" => 100,
        "available_for_dynamic_portgroup" => 100,
        _ => 1,
    }
}

impl Port {
    /// The port group the port belongs to.
    pub fn portgroup(&self) -> Option<Uuid> {
        self.misc
            .get("portgroup_uuid")
            .and_then(Value::as_str)
            .and_then(|u| Uuid::parse_str(u).ok())
    }

    fn misc(&self, key: &str, default: Value) -> Value {
        self.misc.get(key).cloned().unwrap_or(default)
    }

    /// The full port document in Ironic's key order.
    pub fn document(&self, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        let id = self.uuid.to_string();
        d.put("address", self.address.clone());
        d.put("extra", self.misc("extra", json!({})));
        d.put("internal_info", self.misc("internal_info", json!({})));
        d.put("is_smartnic", self.misc("is_smartnic", json!(false)));
        d.put(
            "local_link_connection",
            self.misc("local_link_connection", json!({})),
        );
        d.put(
            "physical_network",
            self.misc("physical_network", Value::Null),
        );
        d.put("pxe_enabled", self.pxe_enabled);
        d.put("node_uuid", self.node_uuid.to_string());
        d.put("name", self.misc("name", Value::Null));
        d.put("description", self.misc("description", Value::Null));
        d.put("vendor", self.misc("vendor", Value::Null));
        d.put("category", self.misc("category", Value::Null));
        d.put(
            "available_for_dynamic_portgroup",
            self.misc("available_for_dynamic_portgroup", json!(true)),
        );
        d.put("links", links(base, &format!("ports/{id}")));
        d.put("portgroup_uuid", self.misc("portgroup_uuid", Value::Null));
        d
    }

    /// The document a client sees.
    pub fn render(&self, base: &str, version: Version, shape: &Shape) -> Doc {
        let mut d = self.document(base);
        d.0.retain(|(k, _)| version.at_least(port_field_min_version(k)));
        match shape {
            Shape::Detail => {}
            Shape::List => d.retain_keys(&["uuid".into(), "address".into(), "links".into()]),
            Shape::Fields(f) => {
                let mut keep = f.clone();
                keep.push("links".to_string());
                d.retain_keys(&keep);
            }
        }
        d
    }
}

/// Normalises a MAC address (`aa:bb:cc:dd:ee:ff`, any case) or returns None.
pub fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6
        || !parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    Some(parts.join(":").to_ascii_lowercase())
}
