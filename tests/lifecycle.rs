//! The provisioning lifecycle end to end: provision → provisioned → deprovision → available →
//! provision again on the same host (reuse), and deleting a provisioned host (the finalizer path).

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use metal_e2e::{Setup, Stack};
use metal_operator::api::ProvisioningState;

const STEP: Duration = Duration::from_secs(180);

/// The machine booted our image from its disk (ground truth from the simulator).
async fn assert_runs_the_image(stack: &Stack, name: &str) -> anyhow::Result<()> {
    let machine = stack.wait_for_machine_power(name, "On", STEP).await?;
    let image = stack.image().url.as_str();
    let outcome = machine
        .last_boot
        .as_ref()
        .map(|b| b.outcome.clone())
        .unwrap_or_default();
    anyhow::ensure!(
        outcome["kind"] == "Disk" && outcome["image"] == image,
        "{name} should run {image} from its disk; its last boot was {outcome}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_is_provisioned_deprovisioned_and_provisioned_again() -> anyhow::Result<()> {
    let stack = Stack::start(Setup::new("lifecycle", "fleets/e2e-lifecycle.yaml")).await?;
    let name = "life-rf-0";
    let node = stack.register_until_available(name, STEP).await?;

    stack.provision(name).await?;
    // Like upstream's, the operator records the power it sees in the reconcile after the one
    // that marks the host provisioned, so poweredOn follows the state; it must follow, and stay.
    let host = stack
        .wait_for_host(name, "provisioned and powered on", STEP, |h| {
            match h.status.as_ref() {
                Some(s)
                    if s.provisioning.state == ProvisioningState::Provisioned && s.powered_on =>
                {
                    Ok(())
                }
                s => Err(format!(
                    "state {:?}, poweredOn {:?}",
                    s.map(|s| s.provisioning.state),
                    s.map(|s| s.powered_on)
                )),
            }
        })
        .await?;
    let status = host.status.expect("status");
    assert_eq!(
        status.provisioning.image.map(|i| i.url).as_deref(),
        Some(stack.image().url.as_str())
    );
    assert_runs_the_image(&stack, name).await?;

    stack.deprovision(name).await?;
    let host = stack
        .wait_for_state(name, ProvisioningState::Available, STEP)
        .await?;
    let status = host.status.expect("status");
    assert!(
        status.provisioning.image.is_none(),
        "{:?}",
        status.provisioning
    );
    assert!(
        status
            .operation_history
            .and_then(|h| h.deprovision)
            .is_some_and(|m| m.end.is_some()),
        "deprovisioning is recorded as finished"
    );

    stack.provision(name).await?;
    stack
        .wait_for_state(name, ProvisioningState::Provisioned, STEP)
        .await?;
    assert_runs_the_image(&stack, name).await?;

    // Ironic saw exactly what the story implies, on the one node the host kept throughout: deploy,
    // clean up, deploy again.
    assert_eq!(
        stack.ironic_node(name).await?,
        node,
        "the host keeps its Ironic node"
    );
    let requests = stack.ironic_requests_for(&node).await?;
    let targets: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/states/provision"))
        .filter_map(|r| r.target.as_deref())
        .filter(|t| matches!(*t, "active" | "deleted"))
        .collect();
    assert_eq!(
        targets,
        ["active", "deleted", "active"],
        "provision requests for node {node}"
    );
    stack.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_provisioned_host_deprovisions_it_and_then_it_is_gone() -> anyhow::Result<()> {
    let stack = Stack::start(Setup::new("deletion", "fleets/e2e-deletion.yaml")).await?;
    let name = "del-ipmi-0";
    stack.register_until_available(name, STEP).await?;
    stack.provision(name).await?;
    stack
        .wait_for_state(name, ProvisioningState::Provisioned, STEP)
        .await?;
    let node = stack.ironic_node(name).await?;

    let ns = stack.namespace().to_owned();
    stack
        .kubectl(&["delete", "bmh", name, "-n", &ns, "--wait=false"])
        .await?;
    // The finalizer holds the object while the operator works.
    let held = stack.bmhs().get_opt(name).await?;
    if let Some(h) = &held {
        assert!(h.metadata.deletion_timestamp.is_some());
        assert!(
            h.metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == "baremetalhost.metal3.io")),
            "{:?}",
            h.metadata.finalizers
        );
    }
    stack.wait_gone(name, STEP).await?;

    // Ironic was asked to deprovision the node, then to forget it — in that order.
    let requests = stack.ironic_requests_for(&node).await?;
    let undeploy = requests
        .iter()
        .position(|r| r.is_provision_target("deleted"));
    let forget = requests
        .iter()
        .rposition(|r| r.method == "DELETE" && r.path == format!("/v1/nodes/{node}"));
    match (undeploy, forget) {
        (Some(u), Some(f)) => assert!(u < f, "deprovisioning came after the node was deleted"),
        other => {
            panic!("expected a deprovision then a node delete in Ironic's journal, got {other:?}")
        }
    }
    // The machine is left powered off, and the user's BMC Secret is not deleted with the host.
    stack.wait_for_machine_power(name, "Off", STEP).await?;
    let secret = stack
        .api::<Secret>()
        .get(&format!("{name}-bmc-secret"))
        .await?;
    assert!(
        secret
            .metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .all(|f| !f.starts_with("baremetalhost.metal3.io")),
        "the host's finalizer is removed from its Secret"
    );
    stack.finish().await;
    Ok(())
}
