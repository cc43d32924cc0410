//! The Redfish read behind [`BmcOp::GetFirmware`](crate::ironic::conductor::BmcOp): the System,
//! its first Manager and the NetworkAdapters of its first Chassis, turned into components by the
//! model's one rule (`model::firmware::from_redfish`).

use super::{Drivers, RedfishTarget, odata_ids};
use crate::ironic::conductor::CallResult;
use crate::ironic::model::firmware::{MAX_ADAPTERS, from_redfish};
use serde_json::Value;

impl Drivers {
    /// Reads the documents Ironic's `cache_firmware_components` reads through sushy. A missing
    /// Manager or Chassis, or a Chassis without NetworkAdapters, leaves those components out, as
    /// Ironic does; only the System must be readable.
    pub(super) async fn read_firmware(
        &self,
        target: &RedfishTarget,
        url: &str,
    ) -> Result<CallResult, String> {
        let system = self.send(target, reqwest::Method::GET, url, None).await?;
        let first = |key: &str| {
            system
                .pointer(&format!("/Links/{key}/0/@odata.id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let manager = match first("ManagedBy") {
            Some(path) => self.get_path(target, &path).await.ok(),
            None => None,
        };
        let mut adapters = Vec::new();
        if let Some(path) = first("Chassis")
            && let Ok(chassis) = self.get_path(target, &path).await
            && let Some(coll) = chassis
                .pointer("/NetworkAdapters/@odata.id")
                .and_then(Value::as_str)
            && let Ok(coll) = self.get_path(target, coll).await
        {
            let ids = odata_ids(&coll, "Members");
            adapters = self
                .fetch_all(target, &ids[..ids.len().min(MAX_ADAPTERS)])
                .await;
        }
        Ok(CallResult::Firmware(from_redfish(
            &system,
            manager.as_ref(),
            &adapters,
        )))
    }
}
