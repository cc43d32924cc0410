//! What the API asks of the conductor: provision-state actions (`provision`) and power changes
//! (`power`), checked against the node's state and turned into jobs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::*;

impl Conductor {
    fn automated_clean(&self, node: &Node) -> bool {
        node.misc
            .get("automated_clean")
            .and_then(Value::as_bool)
            .unwrap_or(self.settings.automated_clean)
    }

    fn invalid(node: &Node, action: &str) -> ApiError {
        ApiError::InvalidState {
            action: action.to_string(),
            node: node.uuid.to_string(),
            state: node.provision_state.as_str().to_string(),
        }
    }

    /// Starts a provision action (the `states/provision` endpoint), validating it like Ironic;
    /// `clean_steps` carries the requested steps of `clean` and of `service`.
    pub fn provision(
        &mut self,
        uuid: Uuid,
        action: &str,
        clean_steps: Option<Vec<Value>>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let node = self.node(uuid)?;
        self.ensure_unlocked(uuid)?;
        let target = Target::parse(action).ok_or_else(|| Self::invalid(node, action))?;
        if target == Target::Clean && clean_steps.is_none() {
            return Err(ApiError::BadRequest(
                "\"clean_steps\" is required when setting target provision state to clean".into(),
            ));
        }
        if target == Target::Service && clean_steps.as_ref().is_none_or(Vec::is_empty) {
            return Err(ApiError::BadRequest(
                "\"service_steps\" is required when setting target provision state to service"
                    .into(),
            ));
        }
        use ProvisionState as S;
        let t = self.settings.timings;
        let fake = uses_fake_power(node);
        let clean_on = self.automated_clean(node);
        let auto_clean = |steps: &mut Vec<Step>| {
            if clean_on {
                steps.extend(plan::cleaning(node, &t, None));
            } else {
                steps.push(Step::Enter(S::Cleaning));
            }
        };
        // Verifying and adopting read the power state; fake power just takes its time.
        let power_check = |wait| {
            if fake {
                Step::Wait(wait)
            } else {
                Step::Call(BmcOp::GetPower)
            }
        };
        let mut steps = Vec::new();
        let (target_state, done, failed) = match (target, node.provision_state) {
            (Target::Manage, S::Enroll) => {
                steps.extend([Step::Enter(S::Verifying), power_check(t.verify)]);
                // Verification ends by caching the boot mode, the BIOS settings and the firmware
                // components, where the driver reads them (Ironic's `node_update_cache`).
                let redfish =
                    |i: &str| node.interfaces.get(i).and_then(Value::as_str) == Some("redfish");
                if redfish("management") {
                    steps.push(Step::Call(BmcOp::GetBootMode));
                }
                if redfish("bios") {
                    steps.push(Step::Call(BmcOp::GetBios));
                }
                if redfish("firmware") {
                    steps.push(Step::Call(BmcOp::GetFirmware));
                }
                (S::Manageable, S::Manageable, S::Enroll)
            }
            (Target::Manage, S::Available | S::CleanFailed | S::InspectFailed | S::AdoptFailed) => {
                return self.settle(uuid, S::Manageable, now);
            }
            (Target::Provide, S::Manageable) => {
                if !clean_on {
                    steps.push(Step::Enter(S::Cleaning));
                    steps.push(Step::Wait(t.provide));
                } else {
                    auto_clean(&mut steps);
                }
                (S::Available, S::Available, S::CleanFailed)
            }
            (Target::Inspect, S::Manageable | S::InspectFailed) => {
                steps.extend(plan::inspection(node, &t));
                (S::Manageable, S::Manageable, S::InspectFailed)
            }
            (Target::Active, S::Available | S::DeployFailed)
            | (Target::Rebuild, S::Active | S::DeployFailed | S::Error) => {
                steps.extend(plan::deployment(node, &t));
                (S::Active, S::Active, S::DeployFailed)
            }
            (
                Target::Deleted,
                S::Active | S::DeployFailed | S::WaitCallBack | S::Error | S::ServiceFailed,
            ) => {
                steps.push(Step::Enter(S::Deleting));
                if !fake {
                    steps.push(Step::Call(BmcOp::SetPower(NodePower::Off)));
                }
                steps.push(Step::Wait(t.undeploy));
                auto_clean(&mut steps);
                (S::Available, S::Available, S::Error)
            }
            (Target::Abort, S::WaitCallBack) => return self.settle(uuid, S::DeployFailed, now),
            (Target::Abort, S::CleanWait) => return self.settle(uuid, S::CleanFailed, now),
            (Target::Abort, S::InspectWait) => return self.settle(uuid, S::InspectFailed, now),
            (Target::Clean, S::Manageable) => {
                steps.extend(plan::cleaning(
                    node,
                    &t,
                    Some(clean_steps.clone().unwrap_or_default()),
                ));
                (S::Manageable, S::Manageable, S::CleanFailed)
            }
            (Target::Service, S::Active | S::ServiceFailed) => {
                steps.extend(plan::servicing(
                    node,
                    clean_steps.as_deref().unwrap_or_default(),
                ));
                (S::Active, S::Active, S::ServiceFailed)
            }
            (Target::Abort, S::ServiceFailed) if node.maintenance => {
                return Err(ApiError::Conflict(format!(
                    "Can not abort service on node \"{uuid}\" while it is in maintenance mode. Please remove the node from maintenance prior to issuing the request to abort the service operation."
                )));
            }
            (Target::Abort, S::ServiceFailed) => {
                self.settle(uuid, S::Active, now)?;
                if let Some(n) = self.nodes.get_mut(&uuid) {
                    n.last_error = Some("By request, the service operation was aborted".into());
                    n.misc.remove("service_step");
                }
                return Ok(());
            }
            (Target::Adopt, S::Manageable | S::AdoptFailed) => {
                steps.extend([Step::Enter(S::Adopting), power_check(t.adopt)]);
                (S::Active, S::Active, S::AdoptFailed)
            }
            _ => return Err(Self::invalid(node, action)),
        };
        let custom = plan::deploy_mode(node) == DeployMode::Custom;
        self.start(
            uuid,
            target_state,
            JobKind::Provision { done, failed },
            steps,
            now,
        );
        if let Some(j) = self.jobs.get_mut(&uuid) {
            j.inband.requested = clean_steps.filter(|_| target == Target::Clean);
            j.inband.custom = custom;
        }
        Ok(())
    }

    fn settle(
        &mut self,
        uuid: Uuid,
        state: ProvisionState,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        self.jobs.remove(&uuid);
        if let Some(n) = self.nodes.get_mut(&uuid) {
            n.provision_state = state;
            n.target_provision_state = None;
            n.provision_updated_at = Some(now);
        }
        Ok(())
    }

    fn start(
        &mut self,
        uuid: Uuid,
        target: ProvisionState,
        kind: JobKind,
        steps: Vec<Step>,
        now: DateTime<Utc>,
    ) {
        let mut steps: VecDeque<Step> = steps.into();
        if let Some(n) = self.nodes.get_mut(&uuid) {
            n.target_provision_state = Some(target);
            n.reservation = Some("localhost".into());
            n.last_error = None;
            // Like Ironic, the request itself moves the node into the working state (deploying,
            // cleaning, verifying, …): a client polling right after the 202 never sees the old state.
            if let Some(Step::Enter(state)) = steps.front().cloned() {
                steps.pop_front();
                n.provision_state = state;
                n.provision_updated_at = Some(now);
                if state == ProvisionState::Inspecting {
                    n.inspection_started_at = Some(now);
                    n.inspection_finished_at = None;
                }
            }
        }
        self.jobs.insert(uuid, Job::new(kind, steps, now));
    }

    /// Starts a power action (the `states/power` endpoint).
    pub fn power(
        &mut self,
        ident: &str,
        uuid: Uuid,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let node = self.node(uuid)?;
        let Some(target) = NodePower::parse(target) else {
            return Err(ApiError::InvalidState {
                action: target.to_string(),
                node: ident.to_string(),
                state: node
                    .power_state
                    .map_or("None", NodePower::as_str)
                    .to_string(),
            });
        };
        self.ensure_unlocked(uuid)?;
        let t = self.settings.timings;
        let steps = if uses_fake_power(node) {
            vec![Step::Wait(t.power)]
        } else if matches!(target, NodePower::Rebooting | NodePower::SoftRebooting) {
            vec![
                Step::Call(BmcOp::SetPower(NodePower::Off)),
                Step::Call(BmcOp::SetPower(NodePower::On)),
            ]
        } else {
            vec![Step::Call(BmcOp::SetPower(target))]
        };
        if let Some(n) = self.nodes.get_mut(&uuid) {
            n.target_power_state = Some(target);
            n.reservation = Some("localhost".into());
            n.last_error = None;
        }
        self.jobs
            .insert(uuid, Job::new(JobKind::Power(target), steps, now));
        Ok(())
    }

    /// A boot mode or secure boot change (`PUT /states/boot_mode`, `/states/secure_boot`): refused
    /// (409) while the node is in a transient state or locked; carried out over Redfish by a job
    /// where the management interface is `redfish`; any other management interface cannot,
    /// and the node's `last_error` says so at once, as Ironic's worker writes it.
    pub fn change_boot(
        &mut self,
        uuid: Uuid,
        op: BmcOp,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        use ProvisionState as S;
        let node = self.node(uuid)?;
        let unstable = [
            S::Deploying,
            S::WaitCallBack,
            S::Cleaning,
            S::CleanWait,
            S::Verifying,
            S::Deleting,
            S::Inspecting,
            S::InspectWait,
            S::Adopting,
        ];
        if unstable.contains(&node.provision_state) {
            return Err(ApiError::Conflict(format!(
                "Node is in {} state. Since node is transitioning, the boot mode will not be set as this may interfere with ongoing changes and result in erroneous modification. Try again later.",
                node.provision_state.as_str()
            )));
        }
        self.ensure_unlocked(uuid)?;
        let redfish = node.interfaces.get("management").and_then(Value::as_str) == Some("redfish");
        let driver = node.driver.clone();
        let Some(n) = self.nodes.get_mut(&uuid) else {
            return Ok(());
        };
        if redfish {
            n.last_error = None;
            n.reservation = Some("localhost".into());
            self.jobs
                .insert(uuid, Job::new(JobKind::Management, [Step::Call(op)], now));
        } else {
            let extension = match op {
                BmcOp::SetSecureBoot(_) => "set_secure_boot_state",
                _ => "set_boot_mode",
            };
            n.last_error = Some(super::management_failure(
                op,
                uuid,
                &format!(
                    "Driver {driver} does not support {extension} (disabled or not implemented)."
                ),
            ));
        }
        Ok(())
    }

    /// An NMI (`PUT /management/inject_nmi`): sent over Redfish by a job where the management
    /// interface is `redfish`; refused as Ironic refuses a driver without it otherwise.
    pub fn inject_nmi(&mut self, uuid: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
        let node = self.node(uuid)?;
        self.ensure_unlocked(uuid)?;
        if node.interfaces.get("management").and_then(Value::as_str) != Some("redfish") {
            return Err(ApiError::BadRequest(format!(
                "Driver {} does not support inject_nmi (disabled or not implemented).",
                node.driver
            )));
        }
        if let Some(n) = self.nodes.get_mut(&uuid) {
            n.reservation = Some("localhost".into());
        }
        self.jobs.insert(
            uuid,
            Job::new(JobKind::Management, [Step::Call(BmcOp::InjectNmi)], now),
        );
        Ok(())
    }
}
