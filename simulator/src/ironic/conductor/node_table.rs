//! The conductor's node database: every node by UUID (read through `Deref`), changed only through
//! these methods, which keep what is derived from the nodes in step: the index of names, and the
//! node's rendered detail document, kept until the node is next borrowed mutably (so a node read
//! again and again while nothing changes it is rendered once).

use std::collections::BTreeMap;
use std::ops::Deref;

use bytes::Bytes;
use uuid::Uuid;

use crate::ironic::model::Node;
use crate::ironic::version::Version;

/// A node's detail document as last rendered, and what it was rendered for.
#[derive(Debug, Clone)]
struct Rendered {
    base: String,
    version: Version,
    /// Shared with every answer that serves it (a clone is a reference count, not a copy).
    text: Bytes,
}

/// Every node by UUID, with the name index and the rendered-document cache.
#[derive(Debug, Clone, Default)]
pub struct NodeTable {
    nodes: BTreeMap<Uuid, Node>,
    names: BTreeMap<String, Uuid>,
    rendered: BTreeMap<Uuid, Rendered>,
}

impl Deref for NodeTable {
    type Target = BTreeMap<Uuid, Node>;

    fn deref(&self) -> &Self::Target {
        &self.nodes
    }
}

impl NodeTable {
    /// Adds a node, or replaces the one with its UUID.
    pub fn insert(&mut self, node: Node) -> Option<Node> {
        let uuid = node.uuid;
        let old = self.remove(&uuid);
        if let Some(name) = &node.name {
            self.names.insert(name.clone(), uuid);
        }
        self.nodes.insert(uuid, node);
        old
    }

    /// Removes a node.
    pub fn remove(&mut self, uuid: &Uuid) -> Option<Node> {
        self.rendered.remove(uuid);
        let node = self.nodes.remove(uuid)?;
        if let Some(name) = &node.name
            && self.names.get(name) == Some(uuid)
        {
            self.names.remove(name);
        }
        Some(node)
    }

    /// The node `uuid` to change; its rendered document is dropped. Its name must not be changed
    /// this way (a renamed node is [`NodeTable::insert`]ed).
    pub fn get_mut(&mut self, uuid: &Uuid) -> Option<&mut Node> {
        self.rendered.remove(uuid);
        self.nodes.get_mut(uuid)
    }

    /// The node named `name` (names are unique).
    pub fn named(&self, name: &str) -> Option<Uuid> {
        self.names
            .get(name)
            .copied()
            .filter(|u| self.nodes.get(u).and_then(|n| n.name.as_deref()) == Some(name))
    }

    /// Node `uuid`'s detail document for `base` and `version`, as `render` writes it: rendered
    /// once, then the same text (shared, not copied) until the node changes.
    pub fn detail_text(
        &mut self,
        uuid: Uuid,
        base: &str,
        version: Version,
        render: impl FnOnce(&Node) -> String,
    ) -> Option<Bytes> {
        let node = self.nodes.get(&uuid)?;
        if let Some(r) = self.rendered.get(&uuid)
            && r.version == version
            && r.base == base
        {
            return Some(r.text.clone());
        }
        let text = Bytes::from(render(node));
        self.rendered.insert(
            uuid,
            Rendered {
                base: base.to_owned(),
                version,
                text: text.clone(),
            },
        );
        Some(text)
    }
}
