//! The Redfish reads behind [`BmcOp::GetBootMode`] and [`BmcOp::GetHealth`]: the System (and its
//! SecureBoot resource), read by the model's rules (`model::bmc_status`).
//!
//! [`BmcOp::GetBootMode`]: crate::ironic::conductor::BmcOp::GetBootMode
//! [`BmcOp::GetHealth`]: crate::ironic::conductor::BmcOp::GetHealth

use super::{Drivers, RedfishTarget};
use crate::ironic::conductor::CallResult;
use crate::ironic::model::bmc_status;
use serde_json::Value;

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
