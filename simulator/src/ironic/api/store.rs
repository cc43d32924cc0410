//! The mock's database — nodes (inside the conductor), ports, id and token sources — and the rules
//! the agent endpoints apply to it. The HTTP handlers and engine mode both call these, so a rule
//! (which states allow an agent to look its node up, when a heartbeat is refused, how inspection
//! data finds its node) is written once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::VecDeque;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::port_table::PortTable;
use crate::ironic::conductor::{Conductor, Settings};
use crate::ironic::error::ApiError;
use crate::ironic::model::{
    Allocation, Chassis, DeployTemplate, Node, Port, Portgroup, Runbook, VolumeKind, VolumeRecord,
};

/// The conductor's database: nodes (inside the conductor), ports, and id/uuid sources.
pub struct Store {
    pub(crate) conductor: Conductor,
    pub(crate) ports: PortTable,
    /// Chassis by UUID.
    pub(crate) chassis: BTreeMap<Uuid, Chassis>,
    /// Port groups by UUID.
    pub(crate) portgroups: BTreeMap<Uuid, Portgroup>,
    /// The last port group row id handed out (each table counts its own, as Ironic's do).
    portgroup_ids: u64,
    /// Volume connectors by UUID.
    pub(crate) volume_connectors: BTreeMap<Uuid, VolumeRecord>,
    /// Volume targets by UUID.
    pub(crate) volume_targets: BTreeMap<Uuid, VolumeRecord>,
    /// The last volume record row id handed out.
    volume_ids: u64,
    /// Deploy templates by UUID.
    pub(crate) deploy_templates: BTreeMap<Uuid, DeployTemplate>,
    /// The last deploy template row id handed out.
    template_ids: u64,
    /// Runbooks by UUID.
    pub(crate) runbooks: BTreeMap<Uuid, Runbook>,
    /// The last runbook row id handed out.
    runbook_ids: u64,
    /// Allocations by UUID.
    pub(crate) allocations: BTreeMap<Uuid, Allocation>,
    /// The last allocation row id handed out.
    allocation_ids: u64,
    rng: ChaCha8Rng,
    next_id: u64,
    /// The agent tokens handed out, newest last (at most [`TOKENS_KEPT`]; kept across a lost
    /// database), so a test run can search its logs for them.
    issued: VecDeque<String>,
}

/// How many handed-out agent tokens the store remembers.
pub const TOKENS_KEPT: usize = 4096;

/// What an agent's lookup (or accepted inspection data) hands back.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentLookup {
    pub node: Uuid,
    /// A fresh agent token, or `******` when the node already has one (only the agent that got
    /// it knows it).
    pub token: String,
}

impl std::fmt::Debug for AgentLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentLookup")
            .field("node", &self.node)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl AgentLookup {
    /// The masked token Ironic answers once a token was handed out.
    pub const MASKED: &'static str = "******";

    /// True when this answer carries a usable token.
    pub fn has_token(&self) -> bool {
        self.token != Self::MASKED
    }
}

impl Store {
    /// An empty database; `seed` drives generated UUIDs and agent tokens.
    pub(crate) fn new(settings: Settings, seed: u64) -> Store {
        Store {
            conductor: Conductor::new(settings),
            ports: PortTable::default(),
            chassis: BTreeMap::new(),
            portgroups: BTreeMap::new(),
            portgroup_ids: 0,
            volume_connectors: BTreeMap::new(),
            volume_targets: BTreeMap::new(),
            volume_ids: 0,
            deploy_templates: BTreeMap::new(),
            template_ids: 0,
            runbooks: BTreeMap::new(),
            runbook_ids: 0,
            allocations: BTreeMap::new(),
            allocation_ids: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_id: 0,
            issued: VecDeque::new(),
        }
    }

    /// The agent tokens handed out (the newest [`TOKENS_KEPT`]), oldest first.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued.iter().cloned().collect()
    }

    /// Forgets every node, port and chassis, as an Ironic restarted on an empty database: the API answers
    /// 404 for every node it knew. The UUID and token streams go on, so a node created again gets
    /// a new UUID.
    pub fn lose_database(&mut self) {
        self.conductor = Conductor::new(*self.conductor.settings());
        self.ports = PortTable::default();
        self.chassis.clear();
        self.portgroups.clear();
        self.volume_connectors.clear();
        self.volume_targets.clear();
        self.deploy_templates.clear();
        self.runbooks.clear();
        self.allocations.clear();
    }

    /// The next allocation row id.
    pub(crate) fn next_allocation_id(&mut self) -> u64 {
        self.allocation_ids += 1;
        self.allocation_ids
    }

    /// The next deploy template row id.
    pub(crate) fn next_template_id(&mut self) -> u64 {
        self.template_ids += 1;
        self.template_ids
    }

    /// The next runbook row id.
    pub(crate) fn next_runbook_id(&mut self) -> u64 {
        self.runbook_ids += 1;
        self.runbook_ids
    }

    /// The table of volume records of `kind`.
    pub(crate) fn volume(&self, kind: VolumeKind) -> &BTreeMap<Uuid, VolumeRecord> {
        match kind {
            VolumeKind::Connector => &self.volume_connectors,
            VolumeKind::Target => &self.volume_targets,
        }
    }

    /// The table of volume records of `kind`, to change.
    pub(crate) fn volume_mut(&mut self, kind: VolumeKind) -> &mut BTreeMap<Uuid, VolumeRecord> {
        match kind {
            VolumeKind::Connector => &mut self.volume_connectors,
            VolumeKind::Target => &mut self.volume_targets,
        }
    }

    /// The next volume record row id (connectors and targets count apart in Ironic; only the
    /// order within one table is ever visible).
    pub(crate) fn next_volume_id(&mut self) -> u64 {
        self.volume_ids += 1;
        self.volume_ids
    }

    /// Forgets what belonged to node `uuid` (its port groups and volume records), as Ironic's
    /// database does when the node is deleted.
    pub(crate) fn forget_node_records(&mut self, uuid: Uuid) {
        self.portgroups.retain(|_, g| g.node_uuid != uuid);
        self.volume_connectors.retain(|_, r| r.node_uuid != uuid);
        self.volume_targets.retain(|_, r| r.node_uuid != uuid);
        self.allocations.retain(|_, a| a.node_uuid != Some(uuid));
    }

    /// The next port group row id.
    pub(crate) fn next_portgroup_id(&mut self) -> u64 {
        self.portgroup_ids += 1;
        self.portgroup_ids
    }

    /// The port group `ident` names: a UUID, or a logical name.
    pub(crate) fn portgroup(&self, ident: &str) -> Option<&Portgroup> {
        match Uuid::parse_str(ident) {
            Ok(u) => self.portgroups.get(&u),
            Err(_) => self
                .portgroups
                .values()
                .find(|g| g.name.as_deref() == Some(ident)),
        }
    }

    /// How many ports belong to port group `group`.
    pub(crate) fn ports_in(&self, group: &Portgroup) -> usize {
        self.ports
            .of_node(group.node_uuid)
            .filter(|p| p.portgroup() == Some(group.uuid))
            .count()
    }

    /// Refuses a node's `chassis_uuid` that names no chassis (Ironic's 400).
    pub(crate) fn check_chassis(&self, node: &Node) -> Result<(), ApiError> {
        match node.misc.get("chassis_uuid") {
            None | Some(Value::Null) => Ok(()),
            Some(v) => {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                match Uuid::parse_str(&text) {
                    Ok(u) if self.chassis.contains_key(&u) => Ok(()),
                    _ => Err(ApiError::BadRequest(format!(
                        "Chassis {text} could not be found."
                    ))),
                }
            }
        }
    }

    /// Writes a node's `parent_node` as the parent's UUID (it may be given by name); a parent
    /// that does not exist is refused with Ironic's 400.
    pub(crate) fn resolve_parent(&self, node: &mut Node) -> Result<(), ApiError> {
        let Some(Value::String(given)) = node.misc.get("parent_node") else {
            return Ok(());
        };
        let parent = Uuid::parse_str(given)
            .ok()
            .filter(|u| self.conductor.nodes.contains_key(u))
            .or_else(|| self.conductor.nodes.named(given))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Unable to apply the requested parent_node '{given}'. Requested value was invalid."
                ))
            })?;
        node.misc
            .insert("parent_node".into(), Value::String(parent.to_string()));
        Ok(())
    }

    /// The nodes whose parent is `parent`, in creation order.
    pub(crate) fn children_of(&self, parent: Uuid) -> Vec<Uuid> {
        let text = parent.to_string();
        let mut children: Vec<&Node> = self
            .conductor
            .nodes
            .values()
            .filter(|n| n.misc.get("parent_node").and_then(Value::as_str) == Some(text.as_str()))
            .collect();
        children.sort_by_key(|n| n.id);
        children.into_iter().map(|n| n.uuid).collect()
    }

    /// Nodes per shard (`None` for nodes in none), as `GET /v1/shards` counts them: the fullest
    /// first, ties unsharded first, then by name.
    pub(crate) fn shard_counts(&self) -> Vec<(Option<String>, usize)> {
        let mut counts: BTreeMap<Option<String>, usize> = BTreeMap::new();
        for n in self.conductor.nodes.values() {
            let shard = n
                .misc
                .get("shard")
                .and_then(Value::as_str)
                .map(str::to_string);
            *counts.entry(shard).or_default() += 1;
        }
        let mut counts: Vec<(Option<String>, usize)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    }

    pub(crate) fn new_uuid(&mut self) -> Uuid {
        let bytes: [u8; 16] = self.rng.random();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The conductor (nodes and their jobs).
    pub fn conductor(&mut self) -> &mut Conductor {
        &mut self.conductor
    }

    /// Creates the ports inspection discovered whose MAC no port has yet (Ironic's `ports` hook).
    pub(crate) fn adopt_discovered_ports(&mut self, now: DateTime<Utc>) {
        for d in self.conductor.take_discovered_ports() {
            if self.ports.with_address(&d.address).is_some()
                || !self.conductor.nodes.contains_key(&d.node)
            {
                continue;
            }
            let uuid = self.new_uuid();
            self.ports.insert(Port {
                uuid,
                address: d.address,
                node_uuid: d.node,
                pxe_enabled: d.pxe_enabled,
                misc: Default::default(),
                created_at: now,
                updated_at: None,
            });
        }
    }

    /// A fresh agent token from the operating system's random generator (a secret: never drawn
    /// from the seeded stream, so it neither follows from the seed nor shifts the UUIDs after it).
    pub(crate) fn token(&mut self) -> String {
        metal_tls::secret::random_hex(24)
    }

    /// The name of the node `ident` (a UUID or a name) identifies, if it exists and has one.
    pub fn node_name(&self, ident: &str) -> Option<String> {
        let uuid = Uuid::parse_str(ident)
            .ok()
            .filter(|u| self.conductor.nodes.contains_key(u))
            .or_else(|| self.conductor.nodes.named(ident))?;
        self.conductor.node(uuid).ok()?.name.clone()
    }

    /// The node one of these (normalised) MACs has a port for (the first such port by UUID).
    pub fn node_by_macs(&self, macs: &[String]) -> Option<Uuid> {
        macs.iter()
            .filter_map(|m| self.ports.with_address(m))
            .min_by_key(|p| p.uuid)
            .map(|p| p.node_uuid)
    }

    /// Hands node `uuid` a token unless it has one (then the answer is masked).
    fn hand_out_token(&mut self, uuid: Uuid) -> Result<AgentLookup, ApiError> {
        let fresh = self.token();
        let n = self
            .conductor
            .nodes
            .get_mut(&uuid)
            .ok_or(ApiError::NotFound)?;
        let token = match &n.agent.token {
            Some(_) => AgentLookup::MASKED.to_string(),
            None => {
                n.agent.token = Some(fresh.clone());
                if self.issued.len() >= TOKENS_KEPT {
                    self.issued.pop_front();
                }
                self.issued.push_back(fresh.clone());
                fresh
            }
        };
        Ok(AgentLookup { node: uuid, token })
    }

    /// `lookup`: node `node` (already resolved) or the node of one of `macs`; 404 unless its
    /// state lets an agent call, 409 while the conductor holds it.
    pub fn agent_lookup(
        &mut self,
        node: Option<Uuid>,
        macs: &[String],
    ) -> Result<AgentLookup, ApiError> {
        let uuid = match node {
            Some(u) => u,
            None => self.node_by_macs(macs).ok_or(ApiError::NotFound)?,
        };
        let allowed = self
            .conductor
            .nodes
            .get(&uuid)
            .is_some_and(|n| n.provision_state.agent_may_call());
        if !allowed {
            return Err(ApiError::NotFound);
        }
        self.conductor.ensure_unlocked(uuid)?;
        self.hand_out_token(uuid)
    }

    /// `heartbeat` from the agent at `callback_url` holding `token`: 409 while the conductor holds
    /// the node, 403 for a wrong token. True when the heartbeat resumed a parked deploy or clean.
    pub fn agent_heartbeat(
        &mut self,
        uuid: Uuid,
        token: &str,
        callback_url: String,
        agent_version: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, ApiError> {
        self.conductor.ensure_unlocked(uuid)?;
        let n = self.conductor.node_mut(uuid)?;
        if !n
            .agent
            .token
            .as_deref()
            .is_some_and(|t| metal_tls::secret::eq(t.as_bytes(), token.as_bytes()))
        {
            return Err(ApiError::Forbidden(
                "Invalid or missing agent token received.".into(),
            ));
        }
        n.agent.callback_url = Some(callback_url);
        n.agent.version = agent_version;
        n.agent.last_heartbeat = Some(now);
        Ok(self.conductor.heartbeat(uuid, now))
    }

    /// The node inspection data is for: `node` if it exists, else the one with a port for one
    /// of `macs`, else the one whose BMC is at one of `bmcs`.
    pub fn inspection_node(
        &self,
        node: Option<Uuid>,
        macs: &[String],
        bmcs: &[String],
    ) -> Option<Uuid> {
        match node {
            Some(u) => Some(u).filter(|u| self.conductor.nodes.contains_key(u)),
            None => self.node_by_macs(macs).or_else(|| {
                self.conductor
                    .nodes
                    .values()
                    .find(|n| bmc_host(n).is_some_and(|h| bmcs.contains(&h)))
                    .map(|n| n.uuid)
            }),
        }
    }

    /// `continue_inspection`: the node named by `node`, else the one with a port for one of
    /// `macs`, else the one whose BMC is at one of `bmcs`, must wait in `inspect wait`; the data
    /// is stored, discovered ports created, and — when `token` — a token handed out. Returns the
    /// node and the token answer.
    pub fn agent_continue_inspection(
        &mut self,
        node: Option<Uuid>,
        macs: &[String],
        bmcs: &[String],
        data: Map<String, Value>,
        token: bool,
        now: DateTime<Utc>,
    ) -> Result<(Uuid, Option<AgentLookup>), ApiError> {
        let uuid = self
            .inspection_node(node, macs, bmcs)
            .ok_or(ApiError::NotFound)?;
        self.conductor.continue_inspection(uuid, data, now)?;
        self.adopt_discovered_ports(now);
        let lookup = if token {
            Some(self.hand_out_token(uuid)?)
        } else {
            None
        };
        Ok((uuid, lookup))
    }
}

/// The host part of a node's BMC address (`ipmi_address`, or the host of `redfish_address`).
fn bmc_host(node: &Node) -> Option<String> {
    let info = &node.driver_info;
    if let Some(a) = info.get("ipmi_address").and_then(Value::as_str) {
        return Some(a.to_string());
    }
    let raw = info.get("redfish_address").and_then(Value::as_str)?;
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    url.host_str()
        .map(|h| h.trim_matches(['[', ']']).to_string())
}
