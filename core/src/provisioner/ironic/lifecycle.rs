//! One host's full lifecycle driven straight through the provisioner, counting Ironic API
//! calls: the figure `make bench` prints. Polls wait on the client's transport
//! ([`Transport::pause`](super::transport::Transport::pause)).

use std::time::Duration;

use super::IronicProvisioner;
use crate::provisioner::{
    Action, Deployment, HostRef, Observation, Outcome, Provisioner, ProvisionerError, Registration,
};

/// How long to wait between polls and how many polls a step may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecyclePacing {
    pub poll_interval: Duration,
    pub max_polls_per_step: u32,
}

impl Default for LifecyclePacing {
    fn default() -> LifecyclePacing {
        LifecyclePacing {
            poll_interval: Duration::from_millis(100),
            max_polls_per_step: 300,
        }
    }
}

/// API calls per step and in total (version discovery included in the first step).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    /// `(step, calls)` in order: register, manage, inspect, hardware, provide, deploy, undeploy.
    pub steps: Vec<(&'static str, u64)>,
    pub total: u64,
    /// Of the total, calls spent polling for a state to settle.
    pub polls: u64,
}

/// Drives register → manage → inspect → hardware details → provide → deploy → undeploy for one
/// host, polling `observe` after each step until the node settles in the expected state.
pub async fn full_lifecycle(
    provisioner: &IronicProvisioner,
    host: &HostRef,
    registration: Registration,
    deployment: Deployment,
    pacing: LifecyclePacing,
) -> Result<LifecycleReport, ProvisionerError> {
    let start = provisioner.api_calls();
    let mut host = host.clone();
    let outcome = provisioner
        .act(&host, &Action::Register(registration))
        .await?;
    if let Outcome::Accepted { node_id: Some(id) } = outcome {
        host.node_id = Some(id);
    }
    let polls = settle(provisioner, &host, "enroll", pacing).await?;
    let registered = provisioner.api_calls() - start;
    let rest = provision_cycle(provisioner, &host, deployment, pacing).await?;
    let mut report = LifecycleReport {
        steps: vec![("register", registered)],
        total: registered + rest.total,
        polls: polls + rest.polls,
    };
    report.steps.extend(rest.steps);
    Ok(report)
}

/// The part of the lifecycle after registration, for a node already in `enroll` (the host's
/// `node_id` set): manage → inspect → hardware details → provide → deploy → undeploy.
pub async fn provision_cycle(
    provisioner: &IronicProvisioner,
    host: &HostRef,
    deployment: Deployment,
    pacing: LifecyclePacing,
) -> Result<LifecycleReport, ProvisionerError> {
    let start = provisioner.api_calls();
    let mut report = LifecycleReport::default();
    let mut mark = start;
    let plan: [(&'static str, Action, &'static str); 3] = [
        ("manage", Action::Manage, "manageable"),
        ("inspect", Action::Inspect, "manageable"),
        ("provide", Action::Provide, "available"),
    ];
    for (name, action, target) in plan {
        act_until_accepted(provisioner, host, &action, pacing).await?;
        report.polls += settle(provisioner, host, target, pacing).await?;
        step(&mut report, &mut mark, provisioner, name);
        if name == "inspect" {
            provisioner.hardware_details(host).await?;
            step(&mut report, &mut mark, provisioner, "hardware");
        }
    }
    act_until_accepted(provisioner, host, &Action::Deploy(deployment), pacing).await?;
    report.polls += settle(provisioner, host, "active", pacing).await?;
    step(&mut report, &mut mark, provisioner, "deploy");
    act_until_accepted(provisioner, host, &Action::Undeploy, pacing).await?;
    report.polls += settle(provisioner, host, "available", pacing).await?;
    step(&mut report, &mut mark, provisioner, "undeploy");
    report.total = provisioner.api_calls() - start;
    Ok(report)
}

fn step(report: &mut LifecycleReport, mark: &mut u64, p: &IronicProvisioner, name: &'static str) {
    let now = p.api_calls();
    report.steps.push((name, now - *mark));
    *mark = now;
}

async fn act_until_accepted(
    p: &IronicProvisioner,
    host: &HostRef,
    action: &Action,
    pacing: LifecyclePacing,
) -> Result<(), ProvisionerError> {
    for _ in 0..pacing.max_polls_per_step {
        match p.act(host, action).await? {
            Outcome::Accepted { .. } => return Ok(()),
            Outcome::Busy => p.client().pause("lifecycle", pacing.poll_interval).await?,
        }
    }
    Err(ProvisionerError::Protocol {
        operation: "lifecycle",
        message: format!("node stayed locked during {}", action.name()),
    })
}

/// Polls until the node is in `target` with no transition pending; returns the polls made.
async fn settle(
    p: &IronicProvisioner,
    host: &HostRef,
    target: &str,
    pacing: LifecyclePacing,
) -> Result<u64, ProvisionerError> {
    let mut last = String::new();
    for n in 1..=u64::from(pacing.max_polls_per_step) {
        if let Observation::Node(node) = p.observe(host).await? {
            if node.provision_state == target && node.target_provision_state.is_none() {
                return Ok(n);
            }
            if node.provision_state.ends_with("failed") || node.provision_state == "error" {
                return Err(ProvisionerError::Protocol {
                    operation: "lifecycle",
                    message: format!(
                        "node reached {} waiting for {target}: {}",
                        node.provision_state,
                        node.last_error.unwrap_or_default()
                    ),
                });
            }
            last = node.provision_state;
        }
        p.client().pause("lifecycle", pacing.poll_interval).await?;
    }
    Err(ProvisionerError::Protocol {
        operation: "lifecycle",
        message: format!("node did not reach {target} (last state {last:?})"),
    })
}
