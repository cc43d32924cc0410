//! What a test does to its hosts as a user would (register, patch, provision, deprovision) and
//! what it waits for (a host's state or any condition on it, the machine's power).

use std::time::Duration;

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use metal_operator::api::{BareMetalHost, ProvisioningState};
use serde_json::json;

use super::Stack;

/// Deadline of a power change or a reboot (a slow operator polls power every few seconds).
const POWER_STEP: Duration = Duration::from_secs(180);
use crate::fleet::{FleetHost, manifests};
use crate::images::ImageRef;
use crate::wait::{Check, eventually};

impl Stack {
    /// Registers `hosts` as a user does: their Secrets and BareMetalHosts in one `kubectl apply`.
    pub async fn register(&self, hosts: &[FleetHost], online: bool) -> anyhow::Result<String> {
        self.register_with_spec(hosts, &json!({ "online": online }))
            .await
    }

    /// Like [`Stack::register`], with `spec` fields (e.g. `externallyProvisioned`) added to each host.
    pub async fn register_with_spec(
        &self,
        hosts: &[FleetHost],
        spec: &serde_json::Value,
    ) -> anyhow::Result<String> {
        let yaml = manifests(&self.namespace, hosts, spec)?;
        self.kubectl_with_input(&["apply", "-n", &self.namespace, "-f", "-"], Some(&yaml))
            .await
    }

    /// Registers every host of the fleet (online).
    pub async fn register_all(&self) -> anyhow::Result<String> {
        let hosts = self.hosts.clone();
        self.register(&hosts, true).await
    }

    /// Registers every host of the fleet and waits until `name` is available; returns its Ironic
    /// node.
    pub async fn register_until_available(
        &self,
        name: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        self.register_all().await?;
        self.wait_for_state(name, ProvisioningState::Available, timeout)
            .await?;
        self.ironic_node(name).await
    }

    /// Merge-patches a host's spec.
    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
        self.bmhs()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .with_context(|| format!("patching {name}"))?;
        Ok(())
    }

    /// The image [`Stack::provision`] sets (in external mode from `E2E_IMAGE_URL` and
    /// `E2E_IMAGE_CHECKSUM_URL`, which must be loopback URLs as the simulator's fake agent sees them).
    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// Sets the test's image (provisioning starts on an available host).
    pub async fn provision(&self, name: &str) -> anyhow::Result<()> {
        let image = self.image.clone();
        self.patch_spec(
            name,
            json!({"online": true, "image": {
                "url": image.url,
                "checksum": image.checksum_url,
                "checksumType": "sha256"
            }}),
        )
        .await
    }

    /// Removes the image (deprovisioning starts).
    pub async fn deprovision(&self, name: &str) -> anyhow::Result<()> {
        self.patch_spec(name, json!({"image": null})).await
    }

    /// Waits until `name` exists and `seen` finds what it looks for in it: `Ok` ends the wait with
    /// the host as then seen, `Err` says what was seen instead.
    pub async fn wait_for_host(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        seen: impl Fn(&BareMetalHost) -> Result<(), String>,
    ) -> anyhow::Result<BareMetalHost> {
        let api = self.bmhs();
        let what = format!("{name}: {what}");
        eventually(timeout, &what, || {
            let api = api.clone();
            let seen = &seen;
            async move {
                Ok(match api.get_opt(name).await? {
                    None => Check::Pending("no such host".into()),
                    Some(h) => match seen(&h) {
                        Ok(()) => Check::Done(h),
                        Err(instead) => Check::Pending(instead),
                    },
                })
            }
        })
        .await
    }

    /// Waits until `name` reaches `state`; returns the host as then seen.
    pub async fn wait_for_state(
        &self,
        name: &str,
        state: ProvisioningState,
        timeout: Duration,
    ) -> anyhow::Result<BareMetalHost> {
        let what = format!("state {state:?}");
        self.wait_for_host(name, &what, timeout, |h| match h.status.as_ref() {
            Some(s) if s.provisioning.state == state => Ok(()),
            Some(s) => Err(format!(
                "state {:?}, operationalStatus {:?}, error {:?}",
                s.provisioning.state, s.operational_status, s.error_message
            )),
            None => Err("no status yet".into()),
        })
        .await
    }

    /// Waits until every host of `names` reaches `state`.
    pub async fn wait_all(
        &self,
        names: &[String],
        state: ProvisioningState,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        // The hosts move in parallel, so waiting one after the other costs no extra time.
        let start = std::time::Instant::now();
        for name in names {
            let left = timeout
                .saturating_sub(start.elapsed())
                .max(Duration::from_secs(1));
            self.wait_for_state(name, state, left).await?;
        }
        Ok(())
    }

    /// Waits until `name`'s machine reports `power` to the simulator's control API.
    pub async fn wait_for_machine_power(
        &self,
        name: &str,
        power: &str,
        timeout: Duration,
    ) -> anyhow::Result<crate::sim::Machine> {
        let what = format!("machine {name} to be powered {power}");
        eventually(timeout, &what, || async {
            let m = self.sim.host(name).await?.machine;
            Ok(if m.power == power {
                Check::Done(m)
            } else {
                Check::Pending(format!("power {}", m.power))
            })
        })
        .await
    }

    /// Waits until `name` is gone from the API (its finalizers all removed).
    pub async fn wait_gone(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let api = self.bmhs();
        eventually(timeout, &format!("{name} to be gone"), || {
            let api = api.clone();
            async move {
                Ok(match api.get_opt(name).await? {
                    None => Check::Done(()),
                    Some(h) => Check::Pending(format!(
                        "state {:?}",
                        h.status.map(|s| s.provisioning.state)
                    )),
                })
            }
        })
        .await
    }

    /// Waits until `name`'s `status.poweredOn` is `on`.
    pub async fn wait_powered_on(&self, name: &str, on: bool) -> anyhow::Result<()> {
        let what = format!("status.poweredOn = {on}");
        self.wait_for_host(name, &what, POWER_STEP, |host| {
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

    /// Annotates `name` with `reboot.metal3.io` = `value` and waits until the machine has booted
    /// again, is on, and the operator has removed the one-shot annotation.
    pub async fn reboot(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let before = self.wait_for_machine_power(name, "On", POWER_STEP).await?;
        self.wait_powered_on(name, true).await?;
        let ns = self.namespace().to_owned();
        self.kubectl(&[
            "annotate",
            "bmh",
            name,
            "-n",
            &ns,
            &format!("reboot.metal3.io={value}"),
        ])
        .await?;
        // The machine boots again: its boot count goes up and it ends powered on.
        let sim = self.sim();
        eventually(POWER_STEP, &format!("{name} to boot again"), || async {
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
        let api = self.bmhs();
        eventually(
            POWER_STEP,
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
        self.wait_powered_on(name, true).await
    }
}
