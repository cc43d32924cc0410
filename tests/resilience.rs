//! The operator as a process that can die or be doubled: killed (SIGKILL) mid-provisioning and
//! restarted, it finishes the deploy without asking Ironic twice; with two replicas and leader
//! election, only the Lease holder acts — and the other takes over when the holder dies.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use metal_e2e::{Check, Setup, Stack, eventually};
use metal_operator::api::ProvisioningState;

const STEP: Duration = Duration::from_secs(180);

fn deploys(requests: &[metal_e2e::sim::Request]) -> usize {
    requests
        .iter()
        .filter(|r| r.is_provision_target("active"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_provisioning_finishes_after_restart_with_exactly_one_deploy_request()
-> anyhow::Result<()> {
    let mut stack = Stack::start(Setup::new("restart", "fleets/e2e-restart.yaml")).await?;
    if !stack.is_embedded() {
        eprintln!("SKIP: killing the operator process needs embedded mode (E2E_KUBECONFIG is set)");
        stack.finish().await;
        return Ok(());
    }
    let name = "kill-rf-0";
    let node = stack.register_until_available(name, STEP).await?;
    stack.provision(name).await?;

    // Kill the operator the moment Ironic has accepted the deploy, before it can see the result.
    let stack_ref = &stack;
    let node_ref = node.as_str();
    eventually(STEP, "the deploy request to reach Ironic", || async move {
        let n = deploys(&stack_ref.ironic_requests_for(node_ref).await?);
        Ok(if n > 0 {
            Check::Done(())
        } else {
            Check::Pending("no deploy yet".into())
        })
    })
    .await?;
    stack.kill_operator(0).await?;
    let at_kill = stack.bmhs().get(name).await?;
    let state = at_kill.status.map(|s| s.provisioning.state);
    assert_eq!(
        state,
        Some(ProvisioningState::Provisioning),
        "the operator must be killed while the host is provisioning"
    );

    stack.start_operator(0).await?;
    stack
        .wait_for_state(name, ProvisioningState::Provisioned, STEP)
        .await?;
    let requests = stack.ironic_requests_for(&node).await?;
    assert_eq!(
        deploys(&requests),
        1,
        "exactly one deploy request: {:?}",
        requests
            .iter()
            .filter(|r| r.path.ends_with("/states/provision"))
            .collect::<Vec<_>>()
    );
    let log = stack.operator_log(0)?;
    assert!(
        log.matches("metal-operator starting").count() == 2,
        "the operator log shows both runs"
    );
    stack.finish().await;
    Ok(())
}

/// Sum of every `metal3_reconcile_total` sample in a Prometheus text page.
fn reconciles(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("metal3_reconcile_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn lease_holder(stack: &Stack) -> anyhow::Result<Option<String>> {
    let (leases, name) = stack.lease();
    let lease = leases.get_opt(&name).await?;
    Ok(lease.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

/// The distinct `reportingInstance`s of the operator's Events about `host`.
async fn reporters(stack: &Stack, host: &str) -> anyhow::Result<Vec<String>> {
    let events = stack.api::<Event>().list(&Default::default()).await?;
    let mut who: Vec<String> = events
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(host))
        .filter_map(|e| e.reporting_instance)
        .collect();
    who.sort();
    who.dedup();
    Ok(who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_only_the_lease_holder_acts_and_the_other_takes_over_when_it_dies()
-> anyhow::Result<()> {
    let mut stack = Stack::start(
        Setup::new("leader", "fleets/e2e-leader.yaml")
            .operators(2)
            .leader_elect(),
    )
    .await?;
    if !stack.is_embedded() {
        eprintln!("SKIP: two operator processes need embedded mode (E2E_KUBECONFIG is set)");
        stack.finish().await;
        return Ok(());
    }
    let (first, second) = ("ha-rf-0", "ha-rf-1");
    stack.register(&[stack.host(first)?.clone()], true).await?;
    stack
        .wait_for_state(first, ProvisioningState::Available, STEP)
        .await?;

    let holder = lease_holder(&stack).await?.expect("a Lease holder");
    let ids = [stack.operator_identity(0), stack.operator_identity(1)];
    let leader = ids
        .iter()
        .position(|id| *id == holder)
        .expect("the holder is one of ours");
    let follower = 1 - leader;
    // The holder did all the work: every Event is its own, the other never reconciled.
    assert_eq!(
        reporters(&stack, first).await?,
        std::slice::from_ref(&holder)
    );
    let (led, followed) = (
        reconciles(&stack.operator_metrics(leader).await?),
        reconciles(&stack.operator_metrics(follower).await?),
    );
    assert!(led > 0.0, "the leader reconciled");
    assert_eq!(followed, 0.0, "the follower never reconciled");

    // The holder dies without releasing the Lease; the other takes it over once it expires and acts.
    stack.kill_operator(leader).await?;
    stack.register(&[stack.host(second)?.clone()], true).await?;
    stack
        .wait_for_state(second, ProvisioningState::Available, STEP)
        .await?;
    assert_eq!(
        lease_holder(&stack).await?.as_deref(),
        Some(ids[follower].as_str())
    );
    assert_eq!(reporters(&stack, second).await?, [ids[follower].clone()]);
    assert!(reconciles(&stack.operator_metrics(follower).await?) > 0.0);
    stack.finish().await;
    Ok(())
}
