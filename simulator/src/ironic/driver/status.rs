//! The Redfish calls behind [`BmcOp::GetBootMode`], [`BmcOp::GetHealth`] and the boot mode and
//! secure boot changes: the System (and its SecureBoot resource), read by the model's rules
//! (`model::bmc_status`).
//!
//! [`BmcOp::GetBootMode`]: crate::ironic::conductor::BmcOp::GetBootMode
//! [`BmcOp::GetHealth`]: crate::ironic::conductor::BmcOp::GetHealth

use super::{Drivers, RedfishTarget};
use crate::ironic::conductor::{BootModeTarget, CallResult};
use crate::ironic::model::bmc_status;
use serde_json::{Value, json};

impl Drivers {
    /// The System's boot mode and, when the System links a SecureBoot resource, its state (no
    /// link: not reported, as sushy's missing attribute makes Ironic store none).
    pub(super) async fn read_boot_mode(
        &self,
        target: &RedfishTarget,
        url: &str,
    ) -> Result<CallResult, String> {
        let system = self.send(target, reqwest::Method::GET, url, None).await?;
        let secure_boot = match system
            .pointer("/SecureBoot/@odata.id")
            .and_then(Value::as_str)
        {
            Some(path) => bmc_status::secure_boot(&self.get_path(target, path).await?),
            None => None,
        };
        Ok(CallResult::BootMode {
            boot_mode: bmc_status::boot_mode(&system).map(str::to_string),
            secure_boot,
        })
    }

    /// The System's health rollup.
    pub(super) async fn read_health(
        &self,
        target: &RedfishTarget,
        url: &str,
    ) -> Result<CallResult, String> {
        let system = self.send(target, reqwest::Method::GET, url, None).await?;
        Ok(CallResult::Health(
            bmc_status::health(&system).map(str::to_string),
        ))
    }
}

/// Python's spelling of a boolean, as Ironic's texts print it.
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

impl Drivers {
    /// Sets the System's boot mode (Redfish `Boot.BootSourceOverrideMode`).
    pub(super) async fn set_boot_mode(
        &self,
        target: &RedfishTarget,
        url: &str,
        mode: BootModeTarget,
    ) -> Result<CallResult, String> {
        let body = json!({"Boot": {"BootSourceOverrideMode": mode.redfish()}});
        self.send(target, reqwest::Method::PATCH, url, Some(body))
            .await?;
        Ok(CallResult::Done)
    }

    /// Enables or disables secure boot as Ironic's Redfish management does: nothing to do when
    /// the SecureBoot resource already says so; refused in Legacy boot mode; else a PATCH of
    /// `SecureBootEnable`.
    pub(super) async fn set_secure_boot(
        &self,
        target: &RedfishTarget,
        url: &str,
        node: &str,
        on: bool,
    ) -> Result<CallResult, String> {
        let system = self.send(target, reqwest::Method::GET, url, None).await?;
        let Some(path) = system
            .pointer("/SecureBoot/@odata.id")
            .and_then(Value::as_str)
        else {
            return Err(
                "Driver redfish does not support set_secure_boot_state (disabled or not implemented)."
                    .into(),
            );
        };
        let current = self.get_path(target, path).await?;
        if bmc_status::secure_boot(&current) == Some(on) {
            return Ok(CallResult::Done);
        }
        if bmc_status::boot_mode(&system) == Some("bios") {
            return Err(format!(
                "Redfish exception occurred. Error: Configuring secure boot requires UEFI for node {node}"
            ));
        }
        let address = format!("{}{path}", target.address);
        self.send(
            target,
            reqwest::Method::PATCH,
            &address,
            Some(json!({"SecureBootEnable": on})),
        )
        .await
        .map_err(|e| {
            format!(
                "Redfish exception occurred. Error: Failed to set secure boot state on node {node} to {}: {e}",
                py_bool(on)
            )
        })?;
        Ok(CallResult::Done)
    }
}
