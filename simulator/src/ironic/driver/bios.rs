//! The BIOS operations of the Redfish driver: reading the settings and their registry, queueing
//! settings or the factory defaults for the next reset; refusals worded as sushy words them.

use super::{Drivers, RedfishTarget, sushy};
use crate::ironic::conductor::CallResult;
use serde_json::{Map, Value, json};

impl Drivers {
    /// Reads the system's Bios attributes and, when the Bios names an attribute registry the
    /// service lists under `/redfish/v1/Registries`, that registry's entries. A registry that
    /// cannot be read leaves the settings without their descriptions, as sushy does.
    pub(super) async fn read_bios(
        &self,
        target: &RedfishTarget,
        url: &str,
    ) -> Result<CallResult, String> {
        let bios = self
            .send(target, reqwest::Method::GET, &format!("{url}/Bios"), None)
            .await?;
        let attributes = bios
            .get("Attributes")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| "the Bios resource has no Attributes".to_string())?;
        let mut registry = std::collections::BTreeMap::new();
        if let Some(name) = bios.get("AttributeRegistry").and_then(Value::as_str) {
            for file in self.members(target, "/redfish/v1/Registries").await {
                // The Bios names the registry with its full version (`Name.1.0.0`); the file's
                // `Registry` carries major and minor only (`Name.1.0`).
                let names_it = [file.get("Id"), file.get("Registry")]
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|r| {
                        name == r
                            || name
                                .strip_prefix(r)
                                .is_some_and(|rest| rest.starts_with('.'))
                    });
                let uri = file
                    .pointer("/Location/0/Uri")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let (true, Some(uri)) = (names_it, uri) {
                    if let Ok(doc) = self.get_path(target, &uri).await {
                        registry = crate::ironic::model::bios::from_redfish_registry(&doc);
                    }
                    break;
                }
            }
        }
        Ok(CallResult::Bios {
            attributes,
            registry,
        })
    }

    /// `PATCH <system>/Bios/Settings` with `attributes`, applied at the next reset.
    pub(super) async fn patch_bios(
        &self,
        target: &RedfishTarget,
        url: &str,
        attributes: &Map<String, Value>,
    ) -> Result<CallResult, String> {
        let body = json!({
            "Attributes": attributes,
            "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"},
        });
        let settings = format!("{url}/Bios/Settings");
        self.send_sushy(target, reqwest::Method::PATCH, &settings, Some(body))
            .await?;
        Ok(CallResult::Done)
    }

    /// `POST <system>/Bios/Actions/Bios.ResetBios`: the factory defaults at the next reset.
    pub(super) async fn reset_bios(
        &self,
        target: &RedfishTarget,
        url: &str,
    ) -> Result<CallResult, String> {
        let action = format!("{url}/Bios/Actions/Bios.ResetBios");
        self.send_sushy(target, reqwest::Method::POST, &action, Some(json!({})))
            .await?;
        Ok(CallResult::Done)
    }

    /// Like `send`, an error answer read as sushy reads it for Ironic ([`sushy::http_error`]).
    async fn send_sushy(
        &self,
        target: &RedfishTarget,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (status, text) = self.exchange(target, method.clone(), url, body).await?;
        if !status.is_success() {
            return Err(sushy::http_error(
                method.as_str(),
                url,
                status.as_u16(),
                &text,
            ));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("HTTP {method} {url} returned invalid JSON: {e}"))
    }
}
