//! Port groups (bonds of a node's ports) and their JSON shapes per microversion, and the rules
//! that tie ports to them: a port joins a group of its own node only, a group that does not
//! support standalone ports takes no PXE-enabled port, a group holding ports neither moves to
//! another node nor goes away.

use super::{Shape, links, stamped};
use crate::ironic::encoding::Doc;
use crate::ironic::version::Version;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Fields a port group listing or `fields=` may name (Ironic's schema lists these).
pub const PORTGROUP_FIELDS: [&str; 16] = [
    "address",
    "category",
    "created_at",
    "dynamic_portgroup",
    "extra",
    "internal_info",
    "links",
    "mode",
    "name",
    "node_uuid",
    "physical_network",
    "ports",
    "properties",
    "standalone_ports_supported",
    "updated_at",
    "uuid",
];

/// The bonding mode a group gets when none is given (Ironic's `[DEFAULT] default_portgroup_mode`).
pub const DEFAULT_PORTGROUP_MODE: &str = "active-backup";

/// Minimum microversion of each versioned port group field.
pub fn portgroup_field_min_version(field: &str) -> u32 {
    match field {
        "mode" | "properties" => 26,
        "physical_network" => 102,
        "category" => 103,
        "dynamic_portgroup" => 111,
        _ => 1,
    }
}

/// A port group.
#[derive(Debug, Clone, PartialEq)]
pub struct Portgroup {
    /// Creation order (the table's `id`, printed in some of Ironic's texts).
    pub id: u64,
    /// Port group UUID.
    pub uuid: Uuid,
    /// Optional unique logical name.
    pub name: Option<String>,
    /// Optional unique lower-case MAC address.
    pub address: Option<String>,
    /// The node it belongs to.
    pub node_uuid: Uuid,
    /// Bonding mode.
    pub mode: String,
    /// Bonding properties.
    pub properties: Map<String, Value>,
    /// Free-form data.
    pub extra: Map<String, Value>,
    /// Ironic's own bookkeeping (the tenant VIF bound to the group).
    pub internal_info: Map<String, Value>,
    /// Whether its ports may also be used alone (PXE).
    pub standalone_ports_supported: bool,
    /// Physical network.
    pub physical_network: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Portgroup {
    /// The full document in Ironic's key order.
    pub fn document(&self, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        let id = self.uuid.to_string();
        d.put("address", self.address.clone());
        d.put("extra", Value::Object(self.extra.clone()));
        d.put("internal_info", Value::Object(self.internal_info.clone()));
        d.put("mode", self.mode.clone());
        d.put("name", self.name.clone());
        d.put("properties", Value::Object(self.properties.clone()));
        d.put(
            "standalone_ports_supported",
            self.standalone_ports_supported,
        );
        d.put("node_uuid", self.node_uuid.to_string());
        d.put("physical_network", self.physical_network.clone());
        d.put("category", self.category.clone());
        d.put("dynamic_portgroup", false);
        d.put("links", links(base, &format!("portgroups/{id}")));
        d.put("ports", links(base, &format!("portgroups/{id}/ports")));
        d
    }

    /// The document a client sees. Ironic 39 hides the fields newer than the request's
    /// microversion when it shows one group (`gated`), never in a listing: kept, as clients read
    /// what Ironic sends.
    pub fn render(&self, base: &str, version: Version, shape: &Shape, gated: bool) -> Doc {
        let mut d = self.document(base);
        if gated {
            d.0.retain(|(k, _)| version.at_least(portgroup_field_min_version(k)));
        }
        match shape {
            Shape::Detail => {}
            Shape::List => {
                d.retain_keys(&[
                    "uuid".into(),
                    "address".into(),
                    "name".into(),
                    "links".into(),
                ]);
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

/// A refused tie between a port and a group, or a refused change of a group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortgroupRefusal {
    /// The port's node is not the group's.
    #[error("Port can not be added to a portgroup belonging to a different node.")]
    OtherNode,
    /// A PXE-enabled port for a group without standalone ports.
    #[error(
        "Port group {0} doesn't support standalone ports. This port cannot be created as a member of that portgroup as the port's 'pxe_enabled' field was set to True."
    )]
    NoStandalone(Uuid),
    /// Moving a group that holds ports.
    #[error(
        "Portgroup {group} can not be associated with node {node} because there are ports associated with this portgroup."
    )]
    MoveWithPorts {
        /// The group.
        group: Uuid,
        /// The node asked for.
        node: Uuid,
    },
    /// Deleting a group that holds ports (the number is its row id).
    #[error("Cannot complete the requested action because portgroup {0} contains ports.")]
    DeleteWithPorts(u64),
}

/// Whether a port of `node`, PXE-enabled or not, may join `group`.
pub fn may_join(group: &Portgroup, node: Uuid, pxe_enabled: bool) -> Result<(), PortgroupRefusal> {
    if group.node_uuid != node {
        return Err(PortgroupRefusal::OtherNode);
    }
    if pxe_enabled && !group.standalone_ports_supported {
        return Err(PortgroupRefusal::NoStandalone(group.uuid));
    }
    Ok(())
}

/// Whether `group`, holding `ports` ports, may move to `node`.
pub fn may_move(group: &Portgroup, node: Uuid, ports: usize) -> Result<(), PortgroupRefusal> {
    if node != group.node_uuid && ports > 0 {
        return Err(PortgroupRefusal::MoveWithPorts {
            group: group.uuid,
            node,
        });
    }
    Ok(())
}

/// Whether `group`, holding `ports` ports, may be deleted.
pub fn may_delete(group: &Portgroup, ports: usize) -> Result<(), PortgroupRefusal> {
    if ports > 0 {
        return Err(PortgroupRefusal::DeleteWithPorts(group.id));
    }
    Ok(())
}

/// Ironic's logical names: 1 to 255 of RFC 3986's unreserved characters.
pub fn is_valid_logical_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(standalone: bool) -> Portgroup {
        Portgroup {
            id: 3,
            uuid: Uuid::from_u128(1),
            name: Some("bond0".into()),
            address: None,
            node_uuid: Uuid::from_u128(10),
            mode: DEFAULT_PORTGROUP_MODE.into(),
            properties: Map::new(),
            extra: Map::new(),
            internal_info: Map::new(),
            standalone_ports_supported: standalone,
            physical_network: None,
            category: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: None,
        }
    }

    #[test]
    fn a_port_joins_a_group_of_its_own_node_and_pxe_only_where_standalone_ports_are_allowed() {
        let node = Uuid::from_u128(10);
        assert_eq!(may_join(&group(true), node, true), Ok(()));
        assert_eq!(
            may_join(&group(true), Uuid::from_u128(11), false),
            Err(PortgroupRefusal::OtherNode)
        );
        assert_eq!(may_join(&group(false), node, false), Ok(()));
        assert_eq!(
            may_join(&group(false), node, true).unwrap_err().to_string(),
            "Port group 00000000-0000-0000-0000-000000000001 doesn't support standalone ports. This port cannot be created as a member of that portgroup as the port's 'pxe_enabled' field was set to True."
        );
    }

    #[test]
    fn a_group_holding_ports_neither_moves_nor_goes_away() {
        let g = group(true);
        assert_eq!(may_move(&g, Uuid::from_u128(11), 0), Ok(()));
        assert_eq!(may_move(&g, g.node_uuid, 2), Ok(()));
        assert!(may_move(&g, Uuid::from_u128(11), 1).is_err());
        assert_eq!(may_delete(&g, 0), Ok(()));
        assert_eq!(
            may_delete(&g, 1).unwrap_err().to_string(),
            "Cannot complete the requested action because portgroup 3 contains ports."
        );
    }

    #[test]
    fn shown_alone_newer_fields_are_hidden_but_a_detailed_listing_keeps_them() {
        let g = group(true);
        let v = Version::v1(89);
        let alone = g.render("", v, &Shape::Detail, true);
        assert!(alone.get("mode").is_some() && alone.get("physical_network").is_none());
        let listed = g.render("", v, &Shape::Detail, false);
        assert!(listed.get("physical_network").is_some());
        assert!(listed.get("dynamic_portgroup").is_some());
        let old = g.render("", Version::v1(25), &Shape::Detail, true);
        assert!(old.get("mode").is_none());
    }

    #[test]
    fn logical_names_are_unreserved_characters_only() {
        for ok in ["bond0", "a.b-c_d~e"] {
            assert!(is_valid_logical_name(ok), "{ok}");
        }
        for bad in ["", "bad name", "52:54:00:00:00:09", &"x".repeat(256)] {
            assert!(!is_valid_logical_name(bad), "{bad}");
        }
    }
}
