//! The Secrets a host names — its BMC credentials (`spec.bmc.credentialsName`) and its config data
//! (`spec.userData`, `networkData`, `metaData`) — read into the views the state machine takes.
//!
//! The rules are written once here, over a [`SecretSource`]: which references are allowed (the
//! host's own namespace only), how a Secret's keys are read (trailing newlines trimmed, empty means
//! missing, config data falls back to a `value` key), and that an unlabelled BMC Secret gets the
//! `environment.metal3.io=baremetal` label so the Secret watch sees later changes. The controller
//! reads through the Kubernetes API; the simulator's engine through its in-memory objects.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, SecretReference};

use crate::api::annotations::{ENVIRONMENT_LABEL, ENVIRONMENT_LABEL_VALUE};
use crate::api::{BareMetalHost, ProvisioningState};
use crate::provisioner::Credentials;
use crate::statemachine::{ConfigData, CredentialsView};

/// Where Secrets are read from, and how the BMC label is put on one.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The Secret `namespace/name`, if it exists.
    async fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, Self::Error>;
    /// Puts the BMC label on Secret `namespace/name`.
    async fn label_bmc(&self, namespace: &str, name: &str) -> Result<(), Self::Error>;
}

/// Reading or labelling a BMC Secret failed (the reconcile fails and is retried).
#[derive(Debug, thiserror::Error)]
pub enum SecretError<E: std::error::Error + 'static> {
    #[error("reading secret {namespace}/{name} failed")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: E,
    },
    #[error("labelling secret {namespace}/{name} failed")]
    Label {
        namespace: String,
        name: String,
        #[source]
        source: E,
    },
}

fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    data.get(key)
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .filter(|s| !s.is_empty())
}

/// Turns a fetched BMC Secret (or its absence) into the state machine's view.
pub fn credentials_view(secret_name: &str, secret: Option<&Secret>) -> CredentialsView {
    let Some(secret) = secret else {
        return CredentialsView::SecretMissing {
            name: secret_name.to_owned(),
        };
    };
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let Some(username) = text(data, "username") else {
        return CredentialsView::MissingKey {
            name: secret_name.to_owned(),
            key: "username",
        };
    };
    let Some(password) = text(data, "password") else {
        return CredentialsView::MissingKey {
            name: secret_name.to_owned(),
            key: "password",
        };
    };
    CredentialsView::Ok {
        credentials: Credentials { username, password },
        secret_version: secret.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// `credentialsName` can only name a Secret in the host's own namespace; a `namespace/name`
/// value is a cross-namespace reference, which upstream forbids (`Err((name, namespace))`).
pub fn split_reference<'a>(
    host_namespace: &str,
    credentials_name: &'a str,
) -> Result<&'a str, (String, String)> {
    match credentials_name.split_once('/') {
        Some((ns, name)) if ns != host_namespace => Err((name.to_owned(), ns.to_owned())),
        Some((_, name)) => Ok(name),
        None => Ok(credentials_name),
    }
}

/// True when the Secret carries the BMC label.
pub fn has_bmc_label(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ENVIRONMENT_LABEL))
        .map(String::as_str)
        == Some(ENVIRONMENT_LABEL_VALUE)
}

/// Reads the host's BMC Secret and labels it if it is not yet. The view is of the Secret as read
/// (before the label bumps its version).
pub async fn read_credentials<S: SecretSource + ?Sized>(
    source: &S,
    host: &BareMetalHost,
) -> Result<CredentialsView, SecretError<S::Error>> {
    let namespace = host.metadata.namespace.clone().unwrap_or_default();
    let credentials_name = host.spec.bmc.credentials_name.as_str();
    if credentials_name.is_empty() {
        return Ok(CredentialsView::NotRequested);
    }
    let name = match split_reference(&namespace, credentials_name) {
        Ok(name) => name,
        Err((name, namespace)) => {
            return Ok(CredentialsView::SecretInOtherNamespace { name, namespace });
        }
    };
    let secret = source
        .get(&namespace, name)
        .await
        .map_err(|source| SecretError::Read {
            namespace: namespace.clone(),
            name: name.to_owned(),
            source,
        })?;
    if let Some(secret) = &secret
        && !has_bmc_label(secret)
    {
        source
            .label_bmc(&namespace, name)
            .await
            .map_err(|source| SecretError::Label {
                namespace: namespace.clone(),
                name: name.to_owned(),
                source,
            })?;
        tracing::debug!(namespace = %namespace, secret = name, "labelled BMC secret");
    }
    Ok(credentials_view(name, secret.as_ref()))
}

async fn read_config_secret<S: SecretSource + ?Sized>(
    source: &S,
    host_namespace: &str,
    reference: Option<&SecretReference>,
    key: &str,
) -> Result<Option<String>, String> {
    let Some(reference) = reference else {
        return Ok(None);
    };
    let Some(name) = reference.name.as_deref().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let namespace = reference
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host_namespace);
    if namespace != host_namespace {
        return Err(format!(
            "secret {namespace}/{name} is in another namespace than the host"
        ));
    }
    let secret = source
        .get(namespace, name)
        .await
        .map_err(|e| format!("reading secret {namespace}/{name} failed: {e}"))?
        .ok_or_else(|| format!("secret {namespace}/{name} not found"))?;
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    text(data, key)
        .or_else(|| text(data, "value"))
        .map(Some)
        .ok_or_else(|| format!("secret {namespace}/{name} has no {key:?} key"))
}

/// Reads the userData / networkData / metaData Secrets for a deployment; they are only needed
/// (and only read) while the host is provisioning. `Err` carries the data type that failed
/// (`userData`, `networkData`, `metaData`) and a message naming the Secret.
pub async fn read_config_data<S: SecretSource + ?Sized>(
    source: &S,
    host: &BareMetalHost,
) -> Result<ConfigData, (&'static str, String)> {
    let state = host
        .status
        .as_ref()
        .map(|s| s.provisioning.state)
        .unwrap_or_default();
    if state != ProvisioningState::Provisioning {
        return Ok(ConfigData::default());
    }
    let namespace = host.metadata.namespace.clone().unwrap_or_default();
    let read = |reference: Option<&SecretReference>, key: &'static str| {
        let namespace = namespace.clone();
        let reference = reference.cloned();
        async move {
            read_config_secret(source, &namespace, reference.as_ref(), key)
                .await
                .map_err(|message| (key, message))
        }
    };
    Ok(ConfigData {
        user_data: read(host.spec.user_data.as_ref(), "userData").await?,
        network_data: read(host.spec.network_data.as_ref(), "networkData").await?,
        meta_data: read(host.spec.meta_data.as_ref(), "metaData").await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("bmc".into()),
                resource_version: Some("7".into()),
                ..Default::default()
            },
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_secret_gives_credentials_and_its_version() {
        let view = credentials_view(
            "bmc",
            Some(&secret(&[("username", "admin"), ("password", "pw\n")])),
        );
        assert_eq!(
            view,
            CredentialsView::Ok {
                credentials: Credentials {
                    username: "admin".into(),
                    password: "pw".into()
                },
                secret_version: "7".into()
            }
        );
    }

    #[test]
    fn missing_or_empty_keys_are_named() {
        assert_eq!(
            credentials_view("bmc", Some(&secret(&[("password", "pw")]))),
            CredentialsView::MissingKey {
                name: "bmc".into(),
                key: "username"
            }
        );
        assert_eq!(
            credentials_view("bmc", Some(&secret(&[("username", "a"), ("password", "")]))),
            CredentialsView::MissingKey {
                name: "bmc".into(),
                key: "password"
            }
        );
        assert_eq!(
            credentials_view("bmc", None),
            CredentialsView::SecretMissing { name: "bmc".into() }
        );
    }

    #[test]
    fn a_namespaced_credentials_name_is_a_cross_namespace_reference() {
        assert_eq!(split_reference("ns", "bmc"), Ok("bmc"));
        assert_eq!(split_reference("ns", "ns/bmc"), Ok("bmc"));
        assert_eq!(
            split_reference("ns", "other/bmc"),
            Err(("bmc".into(), "other".into()))
        );
    }
}
