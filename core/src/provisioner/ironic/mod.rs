//! The OpenStack Ironic provisioner: [`IronicProvisioner`] implements [`Provisioner`] over the
//! typed [`IronicClient`].
//!
//! One client (and so one negotiated microversion and, over HTTP, one connection pool) serves
//! every host. Lookups go by node UUID, then by name `namespace~name`, then by boot-MAC port, as
//! upstream.

mod changes;
mod client;
mod configdrive;
mod inventory;
mod lifecycle;
mod node;
/// How requests reach Ironic (HTTP(S) in the operator, in-process in the simulator's engine
/// mode) and how polls wait.
pub mod transport;

pub use client::{
    ApiVersion, IronicClient, MAX_VERSION, MIN_VERSION, VERSION_HEADER, decode_error_body,
    is_node_locked,
};
pub use configdrive::config_drive;
pub use inventory::hardware_details;
pub use lifecycle::{LifecyclePacing, LifecycleReport, full_lifecycle, provision_cycle};
pub use node::{
    FINGERPRINT_KEY, InterfaceValidation, Node, PatchOp, Port, PowerRequest, ProvisionRequest,
    Validation, validation_failures,
};

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Action, Deployment, HostRef, Observation, Outcome, Provisioner, ProvisionerError, Registration,
};
use crate::bmc::DeployImages;
use crate::firmware::BiosSetting;
use changes::{deploy_patch, desired_node, registration_patch};

/// Operator-wide settings for registering nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IronicSettings {
    /// Deploy kernel/ramdisk/ISO URLs written into every node's `driver_info`.
    pub deploy_images: DeployImages,
}

/// Drives hosts through Ironic.
#[derive(Debug, Clone)]
pub struct IronicProvisioner {
    client: Arc<IronicClient>,
    settings: IronicSettings,
}

/// States in which a node is busy; delete and detach wait for them to end.
const BUSY_STATES: [&str; 9] = [
    "verifying",
    "cleaning",
    "deploying",
    "deleting",
    "inspecting",
    "adopting",
    "rescuing",
    "servicing",
    "unrescuing",
];
/// States that wait for an agent and can be aborted.
const WAIT_STATES: [&str; 5] = [
    "wait call-back",
    "clean wait",
    "inspect wait",
    "rescue wait",
    "service wait",
];

impl IronicProvisioner {
    pub fn new(client: Arc<IronicClient>, settings: IronicSettings) -> IronicProvisioner {
        IronicProvisioner { client, settings }
    }

    /// The shared client.
    pub fn client(&self) -> &IronicClient {
        &self.client
    }

    /// HTTP calls made so far (version discovery included).
    pub fn api_calls(&self) -> u64 {
        self.client.api_calls()
    }

    /// Finds the host's node: by UUID, then by `namespace~name`, then by the boot MAC's port.
    pub async fn find_node(&self, host: &HostRef) -> Result<Option<Node>, ProvisionerError> {
        if let Some(id) = host.node_id.as_deref().filter(|id| !id.is_empty())
            && let Some(node) = self.client.get_node(id).await?
        {
            return Ok(Some(node));
        }
        let name = host.node_name();
        if let Some(node) = self.client.get_node(&name).await? {
            return Ok(Some(node));
        }
        let Some(mac) = host.boot_mac.as_deref().filter(|m| !m.is_empty()) else {
            return Ok(None);
        };
        let Some(node_uuid) = self.client.find_port(mac).await?.and_then(|p| p.node_uuid) else {
            return Ok(None);
        };
        let Some(node) = self.client.get_node(&node_uuid).await? else {
            return Ok(None);
        };
        match node.name.as_deref() {
            Some(other) if !other.is_empty() && other != name => Err(ProvisionerError::Rejected {
                operation: "lookup",
                status: 409,
                message: format!(
                    "MAC address {mac} conflicts with existing node {other} ({})",
                    node.uuid
                ),
            }),
            _ => Ok(Some(node)),
        }
    }

    async fn require_node(
        &self,
        host: &HostRef,
        operation: &'static str,
    ) -> Result<Node, ProvisionerError> {
        self.find_node(host)
            .await?
            .ok_or_else(|| ProvisionerError::Rejected {
                operation,
                status: 404,
                message: format!("no Ironic node for host {}", host.node_name()),
            })
    }

    /// The node's UUID without a GET when the host already knows it.
    async fn node_id(
        &self,
        host: &HostRef,
        operation: &'static str,
    ) -> Result<String, ProvisionerError> {
        match host.node_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => Ok(id.to_string()),
            None => Ok(self.require_node(host, operation).await?.uuid),
        }
    }

    async fn register(
        &self,
        host: &HostRef,
        reg: &Registration,
    ) -> Result<Outcome, ProvisionerError> {
        let desired = desired_node(host, reg, &self.settings.deploy_images)?;
        let lookup = HostRef {
            boot_mac: reg.boot_mac.clone().or_else(|| host.boot_mac.clone()),
            ..host.clone()
        };
        // The registration fingerprint tells later reconciles that registration is complete, so
        // it is written only after the boot-MAC port exists: when creating the port fails (an
        // Ironic 5xx), the node has no fingerprint and the next reconcile registers it again.
        let node = match self.find_node(&lookup).await? {
            None => {
                let mut body = desired.clone();
                if let Some(extra) = body.get_mut("extra").and_then(Value::as_object_mut) {
                    extra.remove(FINGERPRINT_KEY);
                }
                let created = self.client.create_node(&body).await?;
                tracing::info!(node = %created.uuid, host = %host.node_name(), "ironic node created");
                if let Some(mac) = reg.boot_mac.as_deref() {
                    self.client.create_port(&created.uuid, mac, true).await?;
                }
                let mark = [PatchOp::add(
                    format!("/extra/{FINGERPRINT_KEY}"),
                    desired["extra"][FINGERPRINT_KEY].clone(),
                )];
                self.client.patch_node(&created.uuid, &mark).await?;
                return Ok(Outcome::Accepted {
                    node_id: Some(created.uuid),
                });
            }
            Some(node) => node,
        };
        if let Some(mac) = reg.boot_mac.as_deref()
            && self.client.find_port(mac).await?.is_none()
        {
            self.client.create_port(&node.uuid, mac, true).await?;
        }
        let ops = registration_patch(&node, &desired);
        if !ops.is_empty() {
            tracing::info!(node = %node.uuid, changes = ops.len(), "ironic node updated");
            self.client.patch_node(&node.uuid, &ops).await?;
        }
        Ok(Outcome::Accepted {
            node_id: Some(node.uuid),
        })
    }

    async fn deploy(
        &self,
        host: &HostRef,
        deployment: &Deployment,
    ) -> Result<Outcome, ProvisionerError> {
        let node = self.require_node(host, "deploy").await?;
        let ops = deploy_patch(&node, deployment);
        self.client.patch_node(&node.uuid, &ops).await?;
        let validation = self.client.validate(&node.uuid).await?;
        if let Some(failures) = validation_failures(&validation, &["boot", "deploy"]) {
            return Err(ProvisionerError::Rejected {
                operation: "validate",
                status: 400,
                message: format!("host validation error: {failures}"),
            });
        }
        let drive =
            config_drive(host, deployment).map_err(|message| ProvisionerError::Rejected {
                operation: "configdrive",
                status: 400,
                message,
            })?;
        let request = ProvisionRequest {
            target: "active".to_string(),
            configdrive: Some(drive),
            deploy_steps: deployment.custom_deploy.as_ref().map(|method| {
                vec![json!({
                    "interface": "deploy",
                    "step": method,
                    "args": {},
                    "priority": 80,
                })]
            }),
            clean_steps: None,
        };
        self.client
            .set_provision_state(&node.uuid, &request)
            .await?;
        Ok(Outcome::Accepted {
            node_id: Some(node.uuid),
        })
    }

    /// Removes the node: waits out busy states, aborts `*wait` states when forced, puts
    /// deployed nodes in maintenance first so Ironic does not tear them down.
    async fn remove(&self, host: &HostRef, force: bool) -> Result<Outcome, ProvisionerError> {
        let Some(node) = self.find_node(host).await? else {
            return Ok(Outcome::Accepted { node_id: None });
        };
        let state = node.state();
        if BUSY_STATES.contains(&state) {
            return Ok(Outcome::Busy);
        }
        if WAIT_STATES.contains(&state) {
            if force {
                self.client
                    .set_provision_state(&node.uuid, &ProvisionRequest::target("abort"))
                    .await?;
            }
            return Ok(Outcome::Busy);
        }
        if !matches!(state, "enroll" | "available" | "manageable") && !node.maintenance {
            self.client
                .set_maintenance(&node.uuid, Some("removed by metal3 operator"))
                .await?;
        }
        self.client.delete_node(&node.uuid).await?;
        tracing::info!(node = %node.uuid, "ironic node deleted");
        Ok(Outcome::Accepted {
            node_id: Some(node.uuid),
        })
    }

    async fn provision_verb(
        &self,
        host: &HostRef,
        target: &'static str,
    ) -> Result<Outcome, ProvisionerError> {
        let id = self.node_id(host, target).await?;
        self.client
            .set_provision_state(&id, &ProvisionRequest::target(target))
            .await?;
        Ok(Outcome::Accepted { node_id: Some(id) })
    }

    async fn act_inner(
        &self,
        host: &HostRef,
        action: &Action,
    ) -> Result<Outcome, ProvisionerError> {
        match action {
            Action::Register(reg) => self.register(host, reg).await,
            Action::Manage => self.provision_verb(host, "manage").await,
            Action::Inspect => self.provision_verb(host, "inspect").await,
            Action::Provide => self.provision_verb(host, "provide").await,
            Action::Undeploy => self.provision_verb(host, "deleted").await,
            Action::Adopt => self.provision_verb(host, "adopt").await,
            Action::Abort => self.provision_verb(host, "abort").await,
            Action::Deploy(d) => self.deploy(host, d).await,
            Action::Power(change) => {
                let id = self.node_id(host, "power").await?;
                self.client
                    .set_power_state(&id, &PowerRequest::from(*change))
                    .await?;
                Ok(Outcome::Accepted { node_id: Some(id) })
            }
            Action::SetMaintenance { on, reason } => {
                let id = self.node_id(host, "maintenance").await?;
                if *on {
                    self.client.set_maintenance(&id, reason.as_deref()).await?;
                } else {
                    self.client.clear_maintenance(&id).await?;
                }
                Ok(Outcome::Accepted { node_id: Some(id) })
            }
            Action::SetAutomatedClean(on) => {
                let id = self.node_id(host, "automated_clean").await?;
                let ops = [PatchOp::replace("/automated_clean", Value::Bool(*on))];
                self.client.patch_node(&id, &ops).await?;
                Ok(Outcome::Accepted { node_id: Some(id) })
            }
            Action::Detach { force } => self.remove(host, *force).await,
            Action::Delete => self.remove(host, false).await,
            Action::Clean { steps, raid } => {
                let id = self.node_id(host, "clean").await?;
                if let Some(raid) = raid {
                    let ops = [PatchOp::replace(
                        "/raid_interface",
                        Value::String(raid.interface.clone()),
                    )];
                    self.client.patch_node(&id, &ops).await?;
                    self.client
                        .set_raid_config(&id, &raid.logical_disks)
                        .await?;
                }
                let request = ProvisionRequest {
                    clean_steps: Some(steps.clone()),
                    ..ProvisionRequest::target("clean")
                };
                self.client.set_provision_state(&id, &request).await?;
                Ok(Outcome::Accepted { node_id: Some(id) })
            }
        }
    }
}

#[async_trait::async_trait]
impl Provisioner for IronicProvisioner {
    async fn observe(&self, host: &HostRef) -> Result<Observation, ProvisionerError> {
        match self.find_node(host).await {
            Ok(Some(node)) => Ok(Observation::Node(node.view())),
            Ok(None) => Ok(Observation::NotRegistered),
            Err(e @ ProvisionerError::Unreachable { .. }) => {
                Ok(Observation::Unavailable(e.to_string()))
            }
            Err(e @ ProvisionerError::Rejected { status, .. }) if status >= 500 => {
                Ok(Observation::Unavailable(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn act(&self, host: &HostRef, action: &Action) -> Result<Outcome, ProvisionerError> {
        match self.act_inner(host, action).await {
            Err(e) if is_node_locked(&e) => {
                tracing::debug!(action = action.name(), "ironic node locked, retry soon");
                Ok(Outcome::Busy)
            }
            other => other,
        }
    }

    async fn hardware_details(&self, host: &HostRef) -> Result<Value, ProvisionerError> {
        let id = self.node_id(host, "inventory").await?;
        // No inventory yet (404) is `Null`, which the controller reads as "not inspected".
        Ok(match self.client.inventory(&id).await? {
            Some(data) => hardware_details(&data["inventory"], &data["plugin_data"]),
            None => Value::Null,
        })
    }

    async fn bios_settings(&self, host: &HostRef) -> Result<Vec<BiosSetting>, ProvisionerError> {
        let id = self.node_id(host, "bios settings").await?;
        self.client.bios_settings(&id).await
    }
}
