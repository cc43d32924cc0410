//! Handing a generated CA to the API server: every webhook of one ValidatingWebhookConfiguration
//! gets it as `clientConfig.caBundle` (what cert-manager's cainjector does where it runs), so a
//! cluster without cert-manager (kind) can call the webhook over verified TLS.

use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::{info, warn};

/// Why writing the CA bundle failed (every case is retried: the configuration or the RBAC rule
/// may be applied after the operator starts).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// Reading the configuration failed (missing, forbidden, or the API server unreachable).
    #[error("reading ValidatingWebhookConfiguration {name}")]
    Get {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The configuration lists no webhook to give the CA to.
    #[error("ValidatingWebhookConfiguration {name} has no webhooks")]
    NoWebhooks { name: String },
    /// The patch was refused (e.g. the webhooks were reordered meanwhile: its tests failed).
    #[error("patching the caBundle of ValidatingWebhookConfiguration {name}")]
    Patch {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl RegistrationError {
    /// A stable category for log fields.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Get { .. } => "get",
            Self::NoWebhooks { .. } => "no_webhooks",
            Self::Patch { .. } => "patch",
        }
    }
}

/// The JSON patch that sets `caBundle` on every webhook of `config`, each guarded by a test of
/// the webhook's name so a concurrent reordering fails the patch instead of mixing entries up.
/// `None` when the configuration has no webhooks.
pub fn ca_bundle_patch(
    config: &ValidatingWebhookConfiguration,
    ca_pem: &str,
) -> Option<json_patch::Patch> {
    let webhooks = config.webhooks.as_deref().unwrap_or_default();
    if webhooks.is_empty() {
        return None;
    }
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let ops: Vec<serde_json::Value> = webhooks
        .iter()
        .enumerate()
        .flat_map(|(i, webhook)| {
            [
                json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": webhook.name}),
                json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": bundle}),
            ]
        })
        .collect();
    serde_json::from_value(serde_json::Value::Array(ops)).ok()
}

/// Reads configuration `name` and writes `ca_pem` into every webhook's `caBundle`; returns how
/// many webhooks it updated.
pub async fn register(
    client: kube::Client,
    name: &str,
    ca_pem: &str,
) -> Result<usize, RegistrationError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
    let config = api
        .get(name)
        .await
        .map_err(|source| RegistrationError::Get {
            name: name.to_owned(),
            source,
        })?;
    let count = config.webhooks.as_ref().map_or(0, Vec::len);
    let patch = ca_bundle_patch(&config, ca_pem).ok_or_else(|| RegistrationError::NoWebhooks {
        name: name.to_owned(),
    })?;
    api.patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .map_err(|source| RegistrationError::Patch {
            name: name.to_owned(),
            source,
        })?;
    Ok(count)
}

/// [`register`] until it succeeds, waiting 1 s after the first failure and doubling up to 30 s.
pub async fn register_until_done(client: kube::Client, name: &str, ca_pem: &str) {
    let mut delay = Duration::from_secs(1);
    loop {
        match register(client.clone(), name, ca_pem).await {
            Ok(webhooks) => {
                info!(configuration = name, webhooks, "webhook CA bundle written");
                return;
            }
            Err(error) => {
                warn!(
                    configuration = name,
                    category = error.category(),
                    error = %crate::telemetry::logging::error_chain(&error),
                    retry_in = ?delay,
                    "writing the webhook CA bundle failed"
                );
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_webhook_gets_the_bundle_behind_a_test_of_its_name() {
        let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": "metal-operator"},
            "webhooks": [
                {"name": "a.metal3.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://127.0.0.1:1/a"}},
                {"name": "b.metal3.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://127.0.0.1:1/b", "caBundle": "b2xk"}},
            ],
        }))
        .unwrap();
        let patch = ca_bundle_patch(&config, "PEM").unwrap();
        let mut doc = serde_json::to_value(&config).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        let patched: ValidatingWebhookConfiguration = serde_json::from_value(doc).unwrap();
        for webhook in patched.webhooks.unwrap() {
            assert_eq!(webhook.client_config.ca_bundle.unwrap().0, b"PEM");
        }
        // Reordered meanwhile: the patch fails rather than crossing entries.
        let mut reordered = serde_json::to_value(&config).unwrap();
        reordered["webhooks"].as_array_mut().unwrap().reverse();
        assert!(json_patch::patch(&mut reordered, &patch).is_err());
    }

    #[test]
    fn a_configuration_without_webhooks_gets_no_patch() {
        let config = ValidatingWebhookConfiguration::default();
        assert!(ca_bundle_patch(&config, "PEM").is_none());
    }
}
