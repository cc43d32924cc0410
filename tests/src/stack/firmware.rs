//! BIOS settings as a user drives them: the wanted settings written into a host's
//! HostFirmwareSettings, waits on what the operator reports back, and the machine's BIOS as its
//! BMC serves it (`…/Bios` over Redfish), which no operator can fake.

use std::time::Duration;

use anyhow::Context as _;
use kube::Api;
use kube::api::{Patch, PatchParams};
use metal_operator::api::HostFirmwareSettings;
use serde_json::{Value, json};

use super::Stack;
use crate::wait::{Check, eventually};

impl Stack {
    /// The namespace's HostFirmwareSettings.
    pub fn firmware_settings(&self) -> Api<HostFirmwareSettings> {
        Api::namespaced(self.client(), &self.namespace)
    }

    /// Replaces `spec.settings` of `name`'s HostFirmwareSettings, as `kubectl edit` would.
    pub async fn set_firmware_settings(&self, name: &str, settings: Value) -> anyhow::Result<()> {
        let patch = json!({"spec": {"settings": settings}});
        self.firmware_settings()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("setting the firmware settings of {name}"))?;
        Ok(())
    }

    /// Waits until the operator's status of `name`'s HostFirmwareSettings describes the current
    /// spec (its conditions are of this generation) and `pred` holds on it.
    pub async fn wait_for_firmware(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&HostFirmwareSettings) -> bool,
    ) -> anyhow::Result<HostFirmwareSettings> {
        let api = self.firmware_settings();
        let pred = &pred;
        eventually(timeout, &format!("{name}: {what}"), || {
            let api = api.clone();
            async move {
                let Some(hfs) = api.get_opt(name).await? else {
                    return Ok(Check::Pending("no HostFirmwareSettings".into()));
                };
                let current = hfs.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .all(|c| c.observed_generation == hfs.metadata.generation)
                        && !s.conditions.is_empty()
                });
                Ok(if current && pred(&hfs) {
                    Check::Done(hfs)
                } else {
                    Check::Pending(format!("{:?}", hfs.status))
                })
            }
        })
        .await
    }

    /// The BIOS attributes of `name`'s machine as its Redfish BMC serves them now.
    pub async fn bmc_bios(&self, name: &str) -> anyhow::Result<Value> {
        let host = self
            .hosts
            .iter()
            .find(|h| h.name == name)
            .with_context(|| format!("no host {name} in the fleet"))?;
        let system = host
            .address
            .split_once('+')
            .map(|(_, url)| url)
            .filter(|url| url.starts_with("http"))
            .with_context(|| format!("{name}'s BMC is not Redfish: {}", host.address))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let bios: Value = client
            .get(format!("{system}/Bios"))
            .basic_auth(&host.username, Some(&host.password))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(bios["Attributes"].clone())
    }
}
