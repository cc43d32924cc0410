//! A Kubernetes client as a user's kubeconfig describes it (the embedded control plane's, a
//! real cluster's).

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A client for the current context of the kubeconfig `yaml`. Installs the process's rustls
/// crypto provider (ring) first, if none is.
pub async fn client(yaml: &str) -> anyhow::Result<kube::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::from_yaml(yaml).context("parsing the kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading the kubeconfig")?;
    kube::Client::try_from(config).context("building the client")
}
