//! Power, end to end: `spec.online` and the reboot annotation, with the machine's power observed
//! through the simulator's control API (ground truth, not the operator's own status).

use std::time::Duration;

use metal_e2e::{Setup, Stack};
use metal_operator::api::ProvisioningState;

const STEP: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_false_powers_the_machine_off_and_online_true_powers_it_back_on()
-> anyhow::Result<()> {
    let stack = Stack::start(Setup::new("power", "fleets/e2e-power.yaml")).await?;
    stack.register_all().await?;
    let names: Vec<String> = stack.hosts().iter().map(|h| h.name.clone()).collect();
    stack
        .wait_all(&names, ProvisioningState::Available, STEP)
        .await?;
    for name in &names {
        stack.wait_for_machine_power(name, "On", STEP).await?;
        stack.wait_powered_on(name, true).await?;
    }
    for name in &names {
        stack
            .patch_spec(name, serde_json::json!({"online": false}))
            .await?;
    }
    for name in &names {
        stack.wait_for_machine_power(name, "Off", STEP).await?;
        stack.wait_powered_on(name, false).await?;
    }
    for name in &names {
        stack
            .patch_spec(name, serde_json::json!({"online": true}))
            .await?;
    }
    for name in &names {
        stack.wait_for_machine_power(name, "On", STEP).await?;
        stack.wait_powered_on(name, true).await?;
        let host = stack.bmhs().get(name).await?;
        let state = host.status.map(|s| s.provisioning.state);
        assert_eq!(
            state,
            Some(ProvisioningState::Available),
            "{name}: power changes keep the state"
        );
    }
    stack.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reboot_annotation_power_cycles_a_running_machine_and_is_removed() -> anyhow::Result<()>
{
    let stack = Stack::start(Setup::new("reboot", "fleets/e2e-reboot.yaml")).await?;
    // Running machines (the annotation is for provisioned hosts, as upstream): externally provisioned.
    let hosts = stack.hosts().to_vec();
    stack
        .register_with_spec(
            &hosts,
            &serde_json::json!({"online": true, "externallyProvisioned": true}),
        )
        .await?;
    let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
    stack
        .wait_all(&names, ProvisioningState::ExternallyProvisioned, STEP)
        .await?;
    // A soft reboot through Redfish, a hard one through IPMI.
    stack.reboot("rbt-rf-0", "").await?;
    stack.reboot("rbt-ipmi-0", r#"{"mode":"hard"}"#).await?;
    for name in &names {
        let state = stack
            .bmhs()
            .get(name)
            .await?
            .status
            .map(|s| s.provisioning.state);
        assert_eq!(
            state,
            Some(ProvisioningState::ExternallyProvisioned),
            "{name}"
        );
    }
    stack.finish().await;
    Ok(())
}
