//! A real control plane set up as an upstream Metal3 user has it: BMO's own CRDs (for the kinds
//! both operators serve, upstream's schema, not ours), our HostPool CRD beside them, and two
//! ServiceAccounts in `metal3-system` — ours bound to `kind/operator/rbac.yaml`, BMO's bound to the
//! manager ClusterRole of its release — so either operator runs with exactly its own grants and the
//! audit log counts each one's requests.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use metal_testkit::bmo::Bmo;
use serde::Deserialize as _;

use super::RealControlPlane;
use super::access::{self, OPERATOR_NAMESPACE};
use crate::kubectl::kubectl;

/// BMO's ServiceAccount (in [`OPERATOR_NAMESPACE`]).
pub const BMO_ACCOUNT: &str = "baremetal-operator";
/// The name BMO's manager ClusterRole gets here (upstream calls it `manager-role`).
pub const BMO_ROLE: &str = "metal3-upstream-bmo-manager";

/// What [`install`] set up.
#[derive(Debug, Clone)]
pub struct UpstreamAccess {
    /// Our operator's ServiceAccount kubeconfig.
    pub operator_kubeconfig: PathBuf,
    /// BMO's ServiceAccount kubeconfig.
    pub bmo_kubeconfig: PathBuf,
}

/// Installs upstream's CRDs (and our HostPool CRD), both operators' accounts, and writes
/// `<dir>/operator.kubeconfig` and `<dir>/bmo.kubeconfig`.
pub async fn install(
    plane: &RealControlPlane,
    root: &Path,
    bmo: &Bmo,
) -> anyhow::Result<UpstreamAccess> {
    let admin = plane.admin_kubeconfig();
    let mut files = bmo
        .crd_files()
        .with_context(|| format!("reading {}", bmo.crds.display()))?;
    anyhow::ensure!(
        !files.is_empty(),
        "no CRD in {}: run `make bmo`",
        bmo.crds.display()
    );
    files.push(root.join("kind/crds/hostpools.yaml"));
    access::apply_crd_files(admin, &files).await?;
    let ours = access::install_account(plane, root).await?;

    let role = bmo_role(
        &std::fs::read_to_string(&bmo.rbac)
            .with_context(|| format!("reading {}", bmo.rbac.display()))?,
    )?;
    kubectl(admin, &["apply", "-f", "-"], Some(&role)).await?;
    kubectl(
        admin,
        &[
            "create",
            "serviceaccount",
            BMO_ACCOUNT,
            "-n",
            OPERATOR_NAMESPACE,
        ],
        None,
    )
    .await?;
    kubectl(
        admin,
        &[
            "create",
            "clusterrolebinding",
            BMO_ROLE,
            &format!("--clusterrole={BMO_ROLE}"),
            &format!("--serviceaccount={OPERATOR_NAMESPACE}:{BMO_ACCOUNT}"),
        ],
        None,
    )
    .await?;
    let bmo_kubeconfig = plane.dir().join("bmo.kubeconfig");
    plane
        .cluster()
        .write_account_kubeconfig(OPERATOR_NAMESPACE, BMO_ACCOUNT, &bmo_kubeconfig)
        .await?;
    Ok(UpstreamAccess {
        operator_kubeconfig: ours.kubeconfig,
        bmo_kubeconfig,
    })
}

/// BMO's manager ClusterRole under [`BMO_ROLE`], rules unchanged.
fn bmo_role(text: &str) -> anyhow::Result<String> {
    let mut roles = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let mut value = serde_yaml::Value::deserialize(doc).context("parsing BMO's role.yaml")?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("ClusterRole") {
            continue;
        }
        value["metadata"]["name"] = serde_yaml::Value::from(BMO_ROLE);
        roles.push(value);
    }
    anyhow::ensure!(
        roles.len() == 1,
        "BMO's role.yaml should hold one ClusterRole, it holds {}",
        roles.len()
    );
    Ok(serde_yaml::to_string(&roles[0])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmo_keeps_its_rules_under_a_name_of_ours() {
        let text = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  \
                    name: manager-role\nrules:\n- apiGroups: [\"\"]\n  resources: [events]\n  verbs: [create]\n";
        let role = bmo_role(text).unwrap();
        assert!(role.contains("name: metal3-upstream-bmo-manager"), "{role}");
        assert!(role.contains("events"), "{role}");
        assert!(bmo_role("kind: Role\n").is_err());
    }
}
