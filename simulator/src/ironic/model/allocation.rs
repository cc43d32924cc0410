//! Allocations: a request for a node by resource class, traits and candidate nodes, and the
//! allocation process that picks one (Ironic's conductor does it; here it is a pure function, so
//! the HTTP mock and engine mode run the same rule), and the rule on releasing a node.

use super::{Node, ProvisionState, links, node_traits, stamped};
use crate::ironic::encoding::{Doc, python_repr};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Fields an allocation listing or `fields=` may name (Ironic's schema lists these).
pub const ALLOCATION_FIELDS: [&str; 13] = [
    "candidate_nodes",
    "created_at",
    "extra",
    "last_error",
    "links",
    "name",
    "node_uuid",
    "resource_class",
    "state",
    "traits",
    "updated_at",
    "uuid",
    "owner",
];

/// An allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Creation order (the table's `id`).
    pub id: u64,
    /// Its UUID (the node's `instance_uuid` once allocated).
    pub uuid: Uuid,
    /// Optional unique name (a node of that name is preferred).
    pub name: Option<String>,
    /// The resource class a node must have.
    pub resource_class: Option<String>,
    /// Traits a node must all have.
    pub traits: Vec<String>,
    /// The nodes it may pick from (none: any).
    pub candidate_nodes: Vec<Uuid>,
    /// Free-form data.
    pub extra: Map<String, Value>,
    /// The owner a node must have, if any.
    pub owner: Option<String>,
    /// `allocating`, `active` or `error`.
    pub state: String,
    /// Why it failed.
    pub last_error: Option<String>,
    /// The node picked.
    pub node_uuid: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Update time.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Allocation {
    /// The full document in Ironic's key order.
    pub fn document(&self, base: &str) -> Doc {
        let mut d = stamped(self.uuid, self.created_at, self.updated_at);
        d.put(
            "candidate_nodes",
            Value::Array(
                self.candidate_nodes
                    .iter()
                    .map(|u| Value::String(u.to_string()))
                    .collect(),
            ),
        );
        d.put("extra", Value::Object(self.extra.clone()));
        d.put("last_error", self.last_error.clone());
        d.put("name", self.name.clone());
        d.put("owner", self.owner.clone());
        d.put("resource_class", self.resource_class.clone());
        d.put("state", self.state.clone());
        d.put(
            "traits",
            Value::Array(self.traits.iter().cloned().map(Value::String).collect()),
        );
        d.put("links", links(base, &format!("allocations/{}", self.uuid)));
        d.put("node_uuid", self.node_uuid.map(|u| u.to_string()));
        d
    }
}

/// Whether `node` could serve `a` before traits are looked at: its resource class, available,
/// no instance, a known power state, not in maintenance, among the candidates and of the owner
/// when given.
fn eligible(a: &Allocation, node: &Node) -> bool {
    let misc = |k: &str| node.misc.get(k).and_then(Value::as_str);
    node.provision_state == ProvisionState::Available
        && !node.maintenance
        && node.power_state.is_some()
        && misc("instance_uuid").is_none()
        && misc("resource_class") == a.resource_class.as_deref()
        && (a.candidate_nodes.is_empty() || a.candidate_nodes.contains(&node.uuid))
        && a.owner.as_deref().is_none_or(|o| misc("owner") == Some(o))
}

/// The allocation process: the node `a` gets among `nodes`, or the reason none fits (Ironic's
/// `last_error`). Of the fitting nodes the one named like the allocation wins, else the oldest
/// (Ironic picks at random).
pub fn pick_node<'a>(
    a: &Allocation,
    nodes: impl IntoIterator<Item = &'a Node>,
) -> Result<Uuid, String> {
    let mut fitting: Vec<&Node> = nodes.into_iter().filter(|n| eligible(a, n)).collect();
    let class = a.resource_class.as_deref().unwrap_or("None");
    let failed = |why: String| format!("Failed to process allocation {}: {why}.", a.uuid);
    if fitting.is_empty() {
        return Err(failed(if a.candidate_nodes.is_empty() {
            format!("no available nodes match the resource class {class}")
        } else {
            format!(
                "none of the requested nodes are available and match the resource class {class}"
            )
        }));
    }
    if !a.traits.is_empty() {
        fitting.retain(|n| {
            let has = node_traits(n);
            a.traits.iter().all(|t| has.contains(t))
        });
        if fitting.is_empty() {
            let mut wanted = a.traits.clone();
            wanted.sort();
            wanted.dedup();
            return Err(failed(format!(
                "no suitable nodes have the requested traits {}",
                wanted.join(", ")
            )));
        }
    }
    fitting.sort_by_key(|n| n.id);
    let named = fitting
        .iter()
        .find(|n| a.name.is_some() && n.name == a.name)
        .or(fitting.first());
    named
        .map(|n| n.uuid)
        .ok_or_else(|| failed("all nodes were filtered out during reservation".into()))
}

/// Applies the process's outcome to `a` (and returns the node to mark as allocated).
pub fn settle_allocation(
    a: &mut Allocation,
    outcome: Result<Uuid, String>,
    now: DateTime<Utc>,
) -> Option<Uuid> {
    a.updated_at = Some(now);
    match outcome {
        Ok(node) => {
            a.state = "active".into();
            a.node_uuid = Some(node);
            a.last_error = None;
            Some(node)
        }
        Err(why) => {
            a.state = "error".into();
            a.node_uuid = None;
            a.last_error = Some(why);
            None
        }
    }
}

/// Backfilling (1.58): `a` names an already deployed `node`; Ironic checks it still fits (active,
/// same resource class, every trait, among the candidates) and fails the allocation with every
/// reason otherwise, as its `AllocationFailed` text says.
pub fn backfill(a: &Allocation, node: &Node) -> Result<Uuid, String> {
    let mut errors = Vec::new();
    if node.provision_state != ProvisionState::Active {
        errors.push(format!(
            "Node must be in the \"active\" state, but the current state is \"{}\"",
            node.provision_state.as_str()
        ));
    }
    let class = node.misc.get("resource_class").and_then(Value::as_str);
    if let Some(want) = a.resource_class.as_deref()
        && class != Some(want)
    {
        errors.push(format!(
            "Resource class {} does not match the requested resource class {want}",
            class.unwrap_or("None")
        ));
    }
    let has = node_traits(node);
    if !a.traits.is_empty() && !a.traits.iter().all(|t| has.contains(t)) {
        // Ironic prints its trait list object; its items' other fields are left out here.
        let objects: Vec<String> = has.iter().map(|t| format!("Trait(trait='{t}')")).collect();
        errors.push(format!(
            "List of traits TraitList(created_at=<?>,objects=[{}],updated_at=<?>) does not match the requested traits {}",
            objects.join(","),
            python_repr(&Value::from(a.traits.clone()))
        ));
    }
    if !a.candidate_nodes.is_empty() && !a.candidate_nodes.contains(&node.uuid) {
        let listed: Vec<Value> = a
            .candidate_nodes
            .iter()
            .map(|u| Value::String(u.to_string()))
            .collect();
        errors.push(format!(
            "Candidate nodes must be empty or contain the target node, but got {}",
            python_repr(&Value::Array(listed))
        ));
    }
    if errors.is_empty() {
        return Ok(node.uuid);
    }
    Err(format!(
        "Failed to process allocation {}: Cannot backfill an allocation for node {}: {}.",
        a.uuid,
        node.uuid,
        errors.join("; ")
    ))
}

/// Why `node`'s allocation `a` may not be removed, if it may not (Ironic's 409 text): the node is
/// deployed, or busy in a state that allows no update, and not in maintenance.
pub fn deallocation_refusal(node: &Node, a: Uuid) -> Option<String> {
    use ProvisionState as P;
    if node.maintenance {
        return None;
    }
    let update_allowed = matches!(
        node.provision_state,
        P::DeployFailed
            | P::Inspecting
            | P::InspectFailed
            | P::InspectWait
            | P::CleanFailed
            | P::Error
            | P::Verifying
            | P::AdoptFailed
    );
    if node.target_provision_state.is_some() && !update_allowed {
        return Some(format!(
            "Cannot remove allocation {a} for node {}, because the node is in state {} where updates are not allowed (and maintenance mode is off)",
            node.uuid,
            node.provision_state.as_str()
        ));
    }
    if node.provision_state == P::Active {
        return Some(format!(
            "Cannot remove allocation {a} for node {}, because the node is active (and maintenance mode is off)",
            node.uuid
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ironic::model::{NodePower, set_node_traits};
    use crate::ironic::version::Version;
    use serde_json::json;

    fn node(id: u64, name: &str, class: &str, traits: &[&str]) -> Node {
        let mut n = Node::new(
            id,
            Uuid::from_u128(id.into()),
            "fake-hardware",
            DateTime::<Utc>::MIN_UTC,
            Version::v1(89),
        );
        n.name = Some(name.into());
        n.provision_state = ProvisionState::Available;
        n.power_state = Some(NodePower::Off);
        n.misc.insert("resource_class".into(), json!(class));
        set_node_traits(&mut n, traits.iter().map(|t| t.to_string()).collect());
        n
    }

    fn ask(class: &str, traits: &[&str], candidates: &[u128]) -> Allocation {
        Allocation {
            id: 1,
            uuid: Uuid::from_u128(99),
            name: None,
            resource_class: Some(class.into()),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            candidate_nodes: candidates.iter().map(|c| Uuid::from_u128(*c)).collect(),
            extra: Map::new(),
            owner: None,
            state: "allocating".into(),
            last_error: None,
            node_uuid: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: None,
        }
    }

    #[test]
    fn the_process_picks_a_fitting_node_by_class_traits_and_candidates() {
        let nodes = [
            node(1, "a", "baremetal", &[]),
            node(2, "b", "baremetal", &["CUSTOM_GPU"]),
            node(3, "c", "other", &["CUSTOM_GPU"]),
        ];
        assert_eq!(
            pick_node(&ask("baremetal", &[], &[]), &nodes),
            Ok(Uuid::from_u128(1))
        );
        assert_eq!(
            pick_node(&ask("baremetal", &["CUSTOM_GPU"], &[]), &nodes),
            Ok(Uuid::from_u128(2))
        );
        assert_eq!(
            pick_node(&ask("baremetal", &[], &[2]), &nodes),
            Ok(Uuid::from_u128(2))
        );
        let mut named = ask("baremetal", &[], &[]);
        named.name = Some("b".into());
        assert_eq!(pick_node(&named, &nodes), Ok(Uuid::from_u128(2)));
    }

    #[test]
    fn no_fitting_node_fails_with_ironics_reasons() {
        let mut busy = node(1, "a", "baremetal", &[]);
        busy.misc.insert("instance_uuid".into(), json!("x"));
        let mut unpowered = node(2, "b", "baremetal", &[]);
        unpowered.power_state = None;
        let nodes = [busy, unpowered, node(3, "c", "baremetal", &[])];
        let u = "00000000-0000-0000-0000-000000000063";
        assert_eq!(
            pick_node(&ask("other", &[], &[]), &nodes),
            Err(format!(
                "Failed to process allocation {u}: no available nodes match the resource class other."
            ))
        );
        assert_eq!(
            pick_node(&ask("baremetal", &[], &[1, 2]), &nodes),
            Err(format!(
                "Failed to process allocation {u}: none of the requested nodes are available and match the resource class baremetal."
            ))
        );
        assert_eq!(
            pick_node(&ask("baremetal", &["CUSTOM_GPU"], &[]), &nodes),
            Err(format!(
                "Failed to process allocation {u}: no suitable nodes have the requested traits CUSTOM_GPU."
            ))
        );
    }

    #[test]
    fn a_deployed_or_busy_node_keeps_its_allocation_unless_in_maintenance() {
        let a = Uuid::from_u128(99);
        let mut n = node(1, "a", "baremetal", &[]);
        assert_eq!(deallocation_refusal(&n, a), None);
        n.provision_state = ProvisionState::Active;
        assert!(
            deallocation_refusal(&n, a)
                .unwrap()
                .ends_with("because the node is active (and maintenance mode is off)")
        );
        n.provision_state = ProvisionState::Deploying;
        n.target_provision_state = Some(ProvisionState::Active);
        assert!(
            deallocation_refusal(&n, a)
                .unwrap()
                .contains("is in state deploying where updates are not allowed")
        );
        n.maintenance = true;
        assert_eq!(deallocation_refusal(&n, a), None);
    }

    #[test]
    fn backfilling_checks_the_node_still_fits_and_lists_every_reason() {
        use crate::ironic::version::Version;
        let mut n = Node::new(
            1,
            Uuid::from_u128(7),
            "fake-hardware",
            DateTime::UNIX_EPOCH,
            Version::v1(89),
        );
        n.misc.insert("resource_class".into(), Value::from("rc1"));
        let mut a = Allocation {
            id: 1,
            uuid: Uuid::from_u128(9),
            name: None,
            resource_class: Some("rc1".into()),
            traits: Vec::new(),
            candidate_nodes: Vec::new(),
            extra: Map::new(),
            owner: None,
            state: "allocating".into(),
            last_error: None,
            node_uuid: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: None,
        };
        assert_eq!(
            backfill(&a, &n),
            Err(format!(
                "Failed to process allocation {}: Cannot backfill an allocation for node {}: Node must be in the \"active\" state, but the current state is \"enroll\".",
                a.uuid, n.uuid
            ))
        );
        n.provision_state = ProvisionState::Active;
        assert_eq!(backfill(&a, &n), Ok(n.uuid));
        a.resource_class = Some("other".into());
        a.traits = vec!["CUSTOM_X".into()];
        a.candidate_nodes = vec![Uuid::from_u128(8)];
        let why = backfill(&a, &n).unwrap_err();
        assert!(why.contains("Resource class rc1 does not match the requested resource class other; List of traits TraitList(created_at=<?>,objects=[],updated_at=<?>) does not match the requested traits ['CUSTOM_X']; Candidate nodes must be empty or contain the target node, but got ['00000000-0000-0000-0000-000000000008']."), "{why}");
    }
}
