//! The mock's ports with the indexes its lookups need: by MAC address (port lookups, agent
//! lookups, duplicate checks) and by node (validation, deletion with the node), so a lookup costs
//! the same however many ports there are. A port's address and node change only by replacing it
//! (`insert`, `update`), so the indexes only follow inserts and removals; other fields change in
//! place through [`PortTable::set_internal_info`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use uuid::Uuid;

use crate::ironic::model::Port;

/// Every port by UUID (read through `Deref`), changed only through these methods.
#[derive(Debug, Clone, Default)]
pub struct PortTable {
    ports: BTreeMap<Uuid, Port>,
    by_address: BTreeMap<String, Uuid>,
    by_node: BTreeMap<Uuid, BTreeSet<Uuid>>,
    /// Creation order (the database's `id`): what listings sort by unless asked otherwise.
    seq: BTreeMap<Uuid, u64>,
    next_seq: u64,
}

impl Deref for PortTable {
    type Target = BTreeMap<Uuid, Port>;

    fn deref(&self) -> &Self::Target {
        &self.ports
    }
}

impl PortTable {
    /// Adds (or replaces) a port.
    pub fn insert(&mut self, port: Port) {
        let uuid = port.uuid;
        self.remove(&uuid);
        self.by_address.insert(port.address.clone(), uuid);
        self.by_node.entry(port.node_uuid).or_default().insert(uuid);
        self.next_seq += 1;
        self.seq.insert(uuid, self.next_seq);
        self.ports.insert(uuid, port);
    }

    /// Replaces an existing port (its address or node may change) keeping its place in creation
    /// order; false for an unknown port.
    pub fn update(&mut self, port: Port) -> bool {
        let uuid = port.uuid;
        let Some(seq) = self.seq.get(&uuid).copied() else {
            return false;
        };
        self.remove(&uuid);
        self.insert(port);
        self.seq.insert(uuid, seq);
        true
    }

    /// Replaces a port's `internal_info` (what VIF bookkeeping changes); false for an unknown port.
    pub fn set_internal_info(
        &mut self,
        uuid: &Uuid,
        info: serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        match self.ports.get_mut(uuid) {
            Some(p) => {
                p.misc
                    .insert("internal_info".into(), serde_json::Value::Object(info));
                true
            }
            None => false,
        }
    }

    /// When `uuid` was created, relative to the other ports (0 for an unknown port).
    pub fn seq_of(&self, uuid: &Uuid) -> u64 {
        self.seq.get(uuid).copied().unwrap_or(0)
    }

    /// Removes a port.
    pub fn remove(&mut self, uuid: &Uuid) -> Option<Port> {
        let port = self.ports.remove(uuid)?;
        self.seq.remove(uuid);
        if self.by_address.get(&port.address) == Some(uuid) {
            self.by_address.remove(&port.address);
        }
        if let Some(set) = self.by_node.get_mut(&port.node_uuid) {
            set.remove(uuid);
            if set.is_empty() {
                self.by_node.remove(&port.node_uuid);
            }
        }
        Some(port)
    }

    /// Removes every port of `node`.
    pub fn remove_of_node(&mut self, node: Uuid) {
        for uuid in self.by_node.get(&node).cloned().unwrap_or_default() {
            self.remove(&uuid);
        }
    }

    /// The port with MAC `address` (addresses are unique: creation refuses a duplicate).
    pub fn with_address(&self, address: &str) -> Option<&Port> {
        self.by_address
            .get(address)
            .and_then(|uuid| self.ports.get(uuid))
    }

    /// True when `node` has a port.
    pub fn node_has_port(&self, node: Uuid) -> bool {
        self.by_node.get(&node).is_some_and(|s| !s.is_empty())
    }

    /// The ports of `node`, by UUID.
    pub fn of_node(&self, node: Uuid) -> impl Iterator<Item = &Port> {
        self.by_node
            .get(&node)
            .into_iter()
            .flatten()
            .filter_map(|uuid| self.ports.get(uuid))
    }
}
