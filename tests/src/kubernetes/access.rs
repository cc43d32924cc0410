//! The operator's place on a real control plane, installed as a cluster admin installs it from
//! `kind/`: the CRDs (`kind/crds/`), the operator's namespace and its RBAC (`kind/operator/rbac.yaml`),
//! and a kubeconfig holding a token of the `metal-operator` ServiceAccount, so the operator can do
//! exactly what that role allows and nothing more (a verb missing from the role fails a test).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::RealControlPlane;
use super::pki::{Credential, write_kubeconfig};
use crate::kubectl::kubectl;

/// The namespace `kind/operator/` installs into.
pub const OPERATOR_NAMESPACE: &str = "metal3-system";
/// The ServiceAccount `kind/operator/rbac.yaml` binds.
pub const OPERATOR_ACCOUNT: &str = "metal-operator";
/// The CRD files `make crds` generates.
pub const CRD_FILES: &[&str] = &["kind/crds/metal3.io.yaml", "kind/crds/hostpools.yaml"];

/// What [`install`] set up.
#[derive(Debug, Clone)]
pub struct OperatorAccess {
    /// A kubeconfig with the ServiceAccount's token (no other credential).
    pub kubeconfig: PathBuf,
}

/// Applies the CRDs and waits until they are established.
pub async fn apply_crds(admin: &Path, root: &Path) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = CRD_FILES.iter().map(|f| root.join(f)).collect();
    apply_crd_files(admin, &files).await
}

/// Applies CRD `files` and waits until every CRD of the cluster is established.
pub async fn apply_crd_files(admin: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    let mut args = vec!["apply".to_owned()];
    for file in files {
        args.push("-f".into());
        args.push(file.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kubectl(admin, &args, None).await?;
    let names = kubectl(
        admin,
        &[
            "get",
            "crd",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ],
        None,
    )
    .await?;
    for name in names.lines().filter(|n| !n.is_empty()) {
        kubectl(
            admin,
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{name}"),
            ],
            None,
        )
        .await
        .with_context(|| format!("CRD {name} was not established"))?;
    }
    Ok(())
}

/// Installs the CRDs and the operator's RBAC from `root/kind`, and writes
/// `<dir>/operator.kubeconfig` with a token of the operator's ServiceAccount.
pub async fn install(plane: &RealControlPlane, root: &Path) -> anyhow::Result<OperatorAccess> {
    apply_crds(plane.admin_kubeconfig(), root).await?;
    install_account(plane, root).await
}

/// The operator's namespace and RBAC from `root/kind/operator`, and `<dir>/operator.kubeconfig`
/// with a token of its ServiceAccount (the CRDs are someone else's business).
pub async fn install_account(
    plane: &RealControlPlane,
    root: &Path,
) -> anyhow::Result<OperatorAccess> {
    let admin = plane.admin_kubeconfig();
    let operator = root.join("kind/operator");
    kubectl(
        admin,
        &[
            "apply",
            "-f",
            &operator.join("namespace.yaml").display().to_string(),
        ],
        None,
    )
    .await?;
    kubectl(
        admin,
        &[
            "apply",
            "-n",
            OPERATOR_NAMESPACE,
            "-f",
            &operator.join("rbac.yaml").display().to_string(),
        ],
        None,
    )
    .await?;
    let kubeconfig = plane.dir().join("operator.kubeconfig");
    plane
        .cluster()
        .write_account_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, &kubeconfig)
        .await?;
    Ok(OperatorAccess { kubeconfig })
}

/// A running real apiserver as its admin reaches it.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Cluster-admin kubeconfig.
    pub admin_kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The CA the server's certificate chains to.
    pub ca_pem: String,
}

impl Cluster {
    /// Writes a kubeconfig for ServiceAccount `namespace/name`, with a token from the TokenRequest
    /// API (the account must exist).
    pub async fn write_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
        path: &Path,
    ) -> anyhow::Result<()> {
        let token = kubectl(
            &self.admin_kubeconfig,
            &["create", "token", name, "-n", namespace, "--duration=24h"],
            None,
        )
        .await
        .with_context(|| format!("requesting a token for ServiceAccount {namespace}/{name}"))?;
        write_kubeconfig(
            path,
            &self.server,
            &self.ca_pem,
            &format!("system:serviceaccount:{namespace}:{name}"),
            Credential::Token(token.trim()),
        )
    }
}
