//! Power, end to end: `spec.online` and the reboot annotation, with the machine's power observed
//! through the simulator's control API (ground truth, not the operator's own status).

use std::time::Duration;

use metal_e2e::{Check, Setup, Stack, eventually};
use metal_operator::api::ProvisioningState;

const STEP: Duration = Duration::from_secs(180);

async fn wait_powered_on_status(stack: &Stack, name: &str, on: bool) -> anyhow::Result<()> {
    let what = format!("status.poweredOn = {on}");
    stack
        .wait_for_host(name, &what, STEP, |host| {
            let powered = host.status.as_ref().map(|s| s.powered_on);
            if powered == Some(on) {
                Ok(())
            } else {
                Err(format!("poweredOn {powered:?}"))
            }
        })
        .await
        .map(drop)
}

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
        wait_powered_on_status(&stack, name, true).await?;
    }
    for name in &names {
        stack
            .patch_spec(name, serde_json::json!({"online": false}))
            .await?;
    }
    for name in &names {
        stack.wait_for_machine_power(name, "Off", STEP).await?;
        wait_powered_on_status(&stack, name, false).await?;
    }
    for name in &names {
        stack
            .patch_spec(name, serde_json::json!({"online": true}))
            .await?;
    }
    for name in &names {
        stack.wait_for_machine_power(name, "On", STEP).await?;
        wait_powered_on_status(&stack, name, true).await?;
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

/// Annotates `name` with `reboot.metal3.io` = `value` and waits until the machine has booted again,
/// is on, and the operator has removed the one-shot annotation.
async fn reboot(stack: &Stack, name: &str, value: &str) -> anyhow::Result<()> {
    let before = stack.wait_for_machine_power(name, "On", STEP).await?;
    wait_powered_on_status(stack, name, true).await?;
    let ns = stack.namespace().to_owned();
    stack
        .kubectl(&[
            "annotate",
            "bmh",
            name,
            "-n",
            &ns,
            &format!("reboot.metal3.io={value}"),
        ])
        .await?;
    // The machine boots again: its boot count goes up and it ends powered on.
    let sim = stack.sim();
    eventually(STEP, &format!("{name} to boot again"), || async {
        let m = sim.host(name).await?.machine;
        Ok(if m.boots() > before.boots() && m.power == "On" {
            Check::Done(())
        } else {
            Check::Pending(format!(
                "power {}, boots {} (before {})",
                m.power,
                m.boots(),
                before.boots()
            ))
        })
    })
    .await?;
    let api = stack.bmhs();
    eventually(
        STEP,
        &format!("{name}'s reboot annotation to be removed"),
        || {
            let api = api.clone();
            async move {
                let host = api.get(name).await?;
                let has = host
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("reboot.metal3.io"));
                Ok(if has {
                    Check::Pending("still annotated".into())
                } else {
                    Check::Done(())
                })
            }
        },
    )
    .await?;
    wait_powered_on_status(stack, name, true).await
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
    reboot(&stack, "rbt-rf-0", "").await?;
    reboot(&stack, "rbt-ipmi-0", r#"{"mode":"hard"}"#).await?;
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
