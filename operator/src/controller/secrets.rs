//! The controller's Secrets: the Kubernetes API as the [`SecretSource`] the host Secret rules
//! (`crate::host_secrets`) read through, and mapping a changed Secret back to the hosts that use it.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::BareMetalHost;
use crate::api::annotations::{ENVIRONMENT_LABEL, ENVIRONMENT_LABEL_VALUE};
use crate::host_secrets::{SecretError, SecretSource, split_reference};
use crate::statemachine::{ConfigData, CredentialsView};

use super::ReconcileError;
use super::failures::KubeCallError;

/// The label selector matching BMC Secrets (`environment.metal3.io=baremetal`).
pub fn bmc_secret_selector() -> String {
    format!("{ENVIRONMENT_LABEL}={ENVIRONMENT_LABEL_VALUE}")
}

/// Secrets read from, and labelled through, the API server.
pub struct KubeSecrets<'a>(pub &'a kube::Client);

#[async_trait::async_trait]
impl SecretSource for KubeSecrets<'_> {
    type Error = kube::Error;

    async fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, kube::Error> {
        Api::<Secret>::namespaced(self.0.clone(), namespace)
            .get_opt(name)
            .await
    }

    async fn label_bmc(&self, namespace: &str, name: &str) -> Result<(), kube::Error> {
        let patch = json!({"metadata": {"labels": {ENVIRONMENT_LABEL: ENVIRONMENT_LABEL_VALUE}}});
        Api::<Secret>::namespaced(self.0.clone(), namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
    }
}

/// BMC Secrets read from the labelled-Secret watch's cache, and from the API server when the
/// cache does not hold them (a Secret not labelled yet, or one the watch has not delivered).
/// A host's every reconcile reads its Secret: from the cache that costs no request, as
/// upstream's label-selected Secret cache does.
pub struct CachedSecrets<'a> {
    pub client: &'a kube::Client,
    pub cache: &'a Store<Secret>,
}

#[async_trait::async_trait]
impl SecretSource for CachedSecrets<'_> {
    type Error = kube::Error;

    async fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, kube::Error> {
        let key = ObjectRef::<Secret>::new(name).within(namespace);
        match self.cache.get(&key) {
            Some(secret) => Ok(Some(secret.as_ref().clone())),
            None => KubeSecrets(self.client).get(namespace, name).await,
        }
    }

    async fn label_bmc(&self, namespace: &str, name: &str) -> Result<(), kube::Error> {
        KubeSecrets(self.client).label_bmc(namespace, name).await
    }
}

/// Reads the host's BMC Secret (from the watch's cache when it holds it) and labels it (see
/// [`crate::host_secrets::read_credentials`]).
pub async fn read_credentials(
    client: &kube::Client,
    cache: &Store<Secret>,
    host: &BareMetalHost,
) -> Result<CredentialsView, ReconcileError> {
    crate::host_secrets::read_credentials(&CachedSecrets { client, cache }, host)
        .await
        .map_err(|e| match e {
            SecretError::Read {
                namespace,
                name,
                source,
            } => KubeCallError::new("reading secret", namespace, name, source).into(),
            SecretError::Label {
                namespace,
                name,
                source,
            } => KubeCallError::new("labelling secret", namespace, name, source).into(),
        })
}

/// Reads the host's config-data Secrets through the API server (see
/// [`crate::host_secrets::read_config_data`]).
pub async fn read_config_data(
    client: &kube::Client,
    host: &BareMetalHost,
) -> Result<ConfigData, (&'static str, String)> {
    crate::host_secrets::read_config_data(&KubeSecrets(client), host).await
}

/// The hosts in the Secret's namespace whose `spec.bmc.credentialsName` names it.
pub fn hosts_using(store: &Store<BareMetalHost>, secret: &Secret) -> Vec<ObjectRef<BareMetalHost>> {
    let namespace = secret.namespace().unwrap_or_default();
    let name = secret.name_any();
    let mut refs: Vec<ObjectRef<BareMetalHost>> = store
        .state()
        .iter()
        .filter(|h| h.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|h| {
            split_reference(&namespace, &h.spec.bmc.credentials_name).is_ok_and(|n| n == name)
        })
        .map(|h| ObjectRef::from_obj(h.as_ref()))
        .collect();
    refs.sort_by(|a, b| a.name.cmp(&b.name));
    refs
}
