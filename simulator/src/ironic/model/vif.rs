//! Virtual network interfaces (VIFs) bound to a node's ports and port groups, as Ironic's
//! non-Neutron VIF bookkeeping does it: a VIF's ID is kept in the `tenant_vif_port_id` key of the
//! chosen port's or group's `internal_info`; attaching picks a free port-like object (a group with
//! free ports before a port, a PXE port before another, creation order otherwise) or the one the
//! request names, and refuses a VIF already attached; detaching clears it.
//!
//! The physical networks of a VIF come from Neutron, which the simulated Ironic has none of: every
//! VIF may use every physical network (Ironic's rule for an empty set of physical networks).

use serde_json::{Map, Value};
use uuid::Uuid;

/// The `internal_info` key a tenant VIF is kept under.
pub const TENANT_VIF_KEY: &str = "tenant_vif_port_id";

/// Which kind of port-like object a VIF is bound to (Ironic prints the class name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortLikeKind {
    /// A port.
    Port,
    /// A port group.
    Portgroup,
}

impl PortLikeKind {
    fn class(self) -> &'static str {
        match self {
            PortLikeKind::Port => "Port",
            PortLikeKind::Portgroup => "Portgroup",
        }
    }
}

/// What the attach rule reads of one of the node's ports or port groups.
#[derive(Debug, Clone, PartialEq)]
pub struct PortLike {
    /// Port or group.
    pub kind: PortLikeKind,
    /// Its UUID.
    pub uuid: Uuid,
    /// The tenant VIF attached to it, if any.
    pub vif: Option<String>,
    /// PXE-enabled (a group counts as PXE-enabled).
    pub pxe_enabled: bool,
    /// For a port: the group it belongs to.
    pub portgroup: Option<Uuid>,
    /// For a port: whether it carries what the network interface needs (the `neutron` interface
    /// needs `local_link_connection` unless `extra.client-id` is set).
    pub usable: bool,
}

/// The tenant VIF kept in an `internal_info`.
pub fn vif_of(internal_info: &Map<String, Value>) -> Option<String> {
    internal_info
        .get(TENANT_VIF_KEY)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// An attach request: the VIF and, optionally (1.67), the port or group it must use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifAttach {
    /// The VIF's ID.
    pub id: String,
    /// `port_uuid`, when given.
    pub port_uuid: Option<String>,
    /// `portgroup_uuid`, when given (ignored when `port_uuid` is given, as Ironic does).
    pub portgroup_uuid: Option<String>,
}

/// Why a VIF cannot be attached or detached; the texts are Ironic's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VifError {
    /// The VIF is already on one of the node's ports or groups (409).
    #[error(
        "Unable to attach VIF because VIF {vif} is already attached to Ironic {} {uuid}",
        kind.class()
    )]
    AlreadyAttached {
        /// The VIF.
        vif: String,
        /// What it is attached to.
        kind: PortLikeKind,
        /// Its UUID.
        uuid: Uuid,
    },
    /// No port or group is free for it (400).
    #[error("Unable to attach VIF {0}, not enough free physical ports.")]
    NoFreePorts(String),
    /// Detaching a VIF the node does not have (400).
    #[error("Unable to detach VIF {vif} from node {node} because it is not attached to it.")]
    NotAttached {
        /// The VIF.
        vif: String,
        /// The node's UUID.
        node: Uuid,
    },
}

/// The port or group `req`'s VIF goes to, among the node's `ports` and `groups` (each in
/// creation order).
pub fn pick_port_like(
    ports: &[PortLike],
    groups: &[PortLike],
    req: &VifAttach,
) -> Result<(PortLikeKind, Uuid), VifError> {
    let named_port = req.port_uuid.as_deref();
    let named_group = if named_port.is_some() {
        None
    } else {
        req.portgroup_uuid.as_deref()
    };
    let already = |p: &PortLike| VifError::AlreadyAttached {
        vif: req.id.clone(),
        kind: p.kind,
        uuid: p.uuid,
    };
    let mut free: Vec<&PortLike> = Vec::new();
    // A group's free ports (None: standalone ports when a group was asked for), and the groups
    // with a port that already carries some VIF.
    let mut by_group: Vec<(Option<Uuid>, &PortLike)> = Vec::new();
    let mut busy_groups: Vec<Option<Uuid>> = Vec::new();
    for p in ports {
        if named_port.is_some_and(|u| u != p.uuid.to_string()) || !p.usable {
            continue;
        }
        match &p.vif {
            Some(v) if *v == req.id => return Err(already(p)),
            Some(_) => {
                busy_groups.push(p.portgroup);
                continue;
            }
            None => {}
        }
        if p.portgroup.is_none() && named_group.is_none() {
            free.push(p);
        } else {
            by_group.push((p.portgroup, p));
        }
    }
    if named_port.is_none() {
        for g in groups {
            if named_group.is_some_and(|u| u != g.uuid.to_string()) {
                continue;
            }
            match &g.vif {
                Some(v) if *v == req.id => return Err(already(g)),
                Some(_) => continue,
                None => {}
            }
            let members = by_group.iter().filter(|(pg, _)| *pg == Some(g.uuid));
            if busy_groups.contains(&Some(g.uuid)) {
                if named_group.is_none() {
                    free.extend(members.map(|(_, p)| *p));
                }
            } else if members.clone().next().is_some() {
                free.push(g);
            }
        }
    }
    // Groups before ports, PXE ports before others; a stable choice otherwise.
    free.iter()
        .max_by_key(|p| {
            (
                p.kind == PortLikeKind::Portgroup,
                p.pxe_enabled,
                std::cmp::Reverse(free.iter().position(|q| q.uuid == p.uuid)),
            )
        })
        .map(|p| (p.kind, p.uuid))
        .ok_or_else(|| VifError::NoFreePorts(req.id.clone()))
}

/// The port or group `vif` is attached to (groups looked at first, as Ironic does).
pub fn holder_of(
    ports: &[PortLike],
    groups: &[PortLike],
    vif: &str,
    node: Uuid,
) -> Result<(PortLikeKind, Uuid), VifError> {
    groups
        .iter()
        .chain(ports)
        .find(|p| p.vif.as_deref() == Some(vif))
        .map(|p| (p.kind, p.uuid))
        .ok_or_else(|| VifError::NotAttached {
            vif: vif.to_string(),
            node,
        })
}

/// The VIFs attached to the node, ports' first, each as `{"id": ...}`.
pub fn attached_vifs(ports: &[PortLike], groups: &[PortLike]) -> Vec<Value> {
    ports
        .iter()
        .chain(groups)
        .filter_map(|p| p.vif.clone())
        .map(|id| serde_json::json!({ "id": id }))
        .collect()
}

/// `internal_info` with `vif` set, or cleared when None.
pub fn with_vif(internal_info: &Map<String, Value>, vif: Option<&str>) -> Map<String, Value> {
    let mut out = internal_info.clone();
    match vif {
        Some(v) => {
            out.insert(TENANT_VIF_KEY.into(), Value::String(v.into()));
        }
        None => {
            out.remove(TENANT_VIF_KEY);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn port(n: u128, pxe: bool, group: Option<u128>, vif: Option<&str>) -> PortLike {
        PortLike {
            kind: PortLikeKind::Port,
            uuid: uuid(n),
            vif: vif.map(str::to_string),
            pxe_enabled: pxe,
            portgroup: group.map(uuid),
            usable: true,
        }
    }

    fn group(n: u128, vif: Option<&str>) -> PortLike {
        PortLike {
            kind: PortLikeKind::Portgroup,
            uuid: uuid(n),
            vif: vif.map(str::to_string),
            pxe_enabled: true,
            portgroup: None,
            usable: true,
        }
    }

    fn attach(id: &str) -> VifAttach {
        VifAttach {
            id: id.into(),
            port_uuid: None,
            portgroup_uuid: None,
        }
    }

    #[test]
    fn a_pxe_port_is_preferred_then_creation_order() {
        let ports = [port(1, false, None, None), port(2, true, None, None)];
        assert_eq!(
            pick_port_like(&ports, &[], &attach("v")),
            Ok((PortLikeKind::Port, uuid(2)))
        );
        let ports = [port(1, true, None, None), port(2, true, None, None)];
        assert_eq!(
            pick_port_like(&ports, &[], &attach("v")),
            Ok((PortLikeKind::Port, uuid(1)))
        );
    }

    #[test]
    fn a_group_with_free_ports_wins_an_empty_group_never_does() {
        let ports = [port(1, true, None, None), port(2, false, Some(10), None)];
        let groups = [group(9, None), group(10, None)];
        assert_eq!(
            pick_port_like(&ports, &groups, &attach("v")),
            Ok((PortLikeKind::Portgroup, uuid(10)))
        );
        // No ports in any group: the standalone port.
        let ports = [port(1, true, None, None)];
        assert_eq!(
            pick_port_like(&ports, &groups, &attach("v")),
            Ok((PortLikeKind::Port, uuid(1)))
        );
    }

    #[test]
    fn a_group_whose_port_carries_a_vif_offers_its_other_ports() {
        let ports = [
            port(1, false, Some(10), Some("other")),
            port(2, false, Some(10), None),
        ];
        let groups = [group(10, None)];
        assert_eq!(
            pick_port_like(&ports, &groups, &attach("v")),
            Ok((PortLikeKind::Port, uuid(2)))
        );
    }

    #[test]
    fn the_same_vif_twice_is_refused_and_busy_ports_are_not_free() {
        let ports = [port(1, true, None, Some("v"))];
        assert_eq!(
            pick_port_like(&ports, &[], &attach("v"))
                .unwrap_err()
                .to_string(),
            format!(
                "Unable to attach VIF because VIF v is already attached to Ironic Port {}",
                uuid(1)
            )
        );
        assert_eq!(
            pick_port_like(&ports, &[], &attach("w")),
            Err(VifError::NoFreePorts("w".into()))
        );
        let groups = [group(10, Some("v"))];
        let ports = [port(2, true, Some(10), None)];
        assert!(matches!(
            pick_port_like(&ports, &groups, &attach("v")),
            Err(VifError::AlreadyAttached {
                kind: PortLikeKind::Portgroup,
                ..
            })
        ));
    }

    #[test]
    fn a_named_port_or_group_is_the_only_candidate() {
        let ports = [port(1, true, None, None), port(2, false, Some(10), None)];
        let groups = [group(10, None)];
        let mut req = attach("v");
        req.port_uuid = Some(uuid(1).to_string());
        assert_eq!(
            pick_port_like(&ports, &groups, &req),
            Ok((PortLikeKind::Port, uuid(1)))
        );
        // A port in a group is no candidate on its own, even named (Ironic's rule).
        req.port_uuid = Some(uuid(2).to_string());
        assert_eq!(
            pick_port_like(&ports, &groups, &req),
            Err(VifError::NoFreePorts("v".into()))
        );
        req.port_uuid = None;
        req.portgroup_uuid = Some(uuid(10).to_string());
        assert_eq!(
            pick_port_like(&ports, &groups, &req),
            Ok((PortLikeKind::Portgroup, uuid(10)))
        );
        req.portgroup_uuid = Some(uuid(11).to_string());
        assert_eq!(
            pick_port_like(&ports, &groups, &req),
            Err(VifError::NoFreePorts("v".into()))
        );
    }

    #[test]
    fn unusable_ports_are_skipped() {
        let mut p = port(1, true, None, None);
        p.usable = false;
        assert_eq!(
            pick_port_like(&[p], &[], &attach("v")),
            Err(VifError::NoFreePorts("v".into()))
        );
    }

    #[test]
    fn detach_finds_groups_first_and_lists_ports_first() {
        let ports = [
            port(1, true, None, Some("a")),
            port(2, true, None, Some("b")),
        ];
        let groups = [group(10, Some("c"))];
        assert_eq!(
            holder_of(&ports, &groups, "c", uuid(99)),
            Ok((PortLikeKind::Portgroup, uuid(10)))
        );
        assert_eq!(
            holder_of(&ports, &groups, "z", uuid(99))
                .unwrap_err()
                .to_string(),
            format!(
                "Unable to detach VIF z from node {} because it is not attached to it.",
                uuid(99)
            )
        );
        let ids: Vec<Value> = attached_vifs(&ports, &groups);
        assert_eq!(
            ids,
            vec![
                serde_json::json!({"id": "a"}),
                serde_json::json!({"id": "b"}),
                serde_json::json!({"id": "c"})
            ]
        );
        let info = with_vif(&Map::new(), Some("a"));
        assert_eq!(vif_of(&info).as_deref(), Some("a"));
        assert_eq!(vif_of(&with_vif(&info, None)), None);
    }
}
