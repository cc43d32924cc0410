//! Cluster API core and its Metal3 provider CAPM3 as judges (built by `make capi`, docs/capi.md):
//! where the build is, and the one way they run on our testbed — out of cluster against a real
//! apiserver, each as its own ServiceAccount bound to its release's manager ClusterRole (so a grant
//! upstream lacks shows here as it would in a cluster), every listener on loopback (their webhook servers bound to 127.0.0.1 by
//! the build, `scripts/capi.sh`; health and diagnostics by flag), their CRDs carrying Cluster API's
//! contract labels and conversion webhooks, and their admission webhooks registered by `url` plus
//! `caBundle` with a serving certificate from the test's own CA.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize as _;
use serde_yaml::{Mapping, Value};

use crate::kubectl::kubectl;
use crate::kubernetes::RealControlPlane;
use crate::process::Process;
use crate::wait::{Check, eventually};

/// What `scripts/capi.sh` built, as its `capi.env` names it.
#[derive(Debug, Clone)]
pub struct Capi {
    /// Cluster API's manager.
    pub capi_bin: PathBuf,
    /// CAPM3's manager.
    pub capm3_bin: PathBuf,
    /// The build's directory: `capi/` and `capm3/`, each with `crds/`, `webhook.yaml`, `rbac.yaml`.
    pub dir: PathBuf,
    /// Cluster API's release.
    pub capi_version: String,
    /// CAPM3's release.
    pub capm3_version: String,
}

impl Capi {
    /// Finds the build `make capi` made (`$JUDGES_HOME/capi.env`, `metal_testkit::judges`).
    pub fn locate() -> Result<Capi, String> {
        let vars = metal_testkit::judges::env_file("capi", "Cluster API and CAPM3")?;
        let get = |k: &str| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("{k} is not set by `make capi`'s capi.env: run `make capi`"))
        };
        let capi = Capi {
            capi_bin: PathBuf::from(get("CAPI_BIN")?),
            capm3_bin: PathBuf::from(get("CAPM3_BIN")?),
            dir: PathBuf::from(get("CAPI_DIR")?),
            capi_version: get("CAPI_VERSION")?,
            capm3_version: get("CAPM3_VERSION")?,
        };
        for path in [&capi.capi_bin, &capi.capm3_bin] {
            if !path.is_file() {
                return Err(format!("{} is missing: run `make capi`", path.display()));
            }
        }
        Ok(capi)
    }

    /// [`Capi::locate`] for a test: `None` after a loud SKIP line, a panic under `REQUIRE_PEERS=1`.
    pub fn for_test(test: &str) -> Option<Capi> {
        match Capi::locate() {
            Ok(c) => Some(c),
            Err(e) if metal_testkit::peers::peers_required() => {
                panic!("{test}: {e} — but REQUIRE_PEERS=1")
            }
            Err(e) => {
                eprintln!("\n!!!!!!!! SKIP {test}: {e} !!!!!!!!\n");
                None
            }
        }
    }
}

impl Capi {
    /// What each manager asked of `plane`, from its audit log: a line per manager, or an error when
    /// one made no request as its account or asked for anything its release's manager role does not
    /// grant. A granted request can still be refused — an object (an Event) created in a namespace
    /// being deleted is answered 403 — so refusals are listed, not failed on.
    pub fn audit(&self, plane: &RealControlPlane) -> anyhow::Result<Vec<String>> {
        use crate::kubernetes::audit;
        let mut lines = Vec::new();
        for component in [Component::ClusterApi, Component::Capm3] {
            let account = format!("{}-manager", component.dir());
            let user = format!("system:serviceaccount:{NAMESPACE}:{account}");
            let usage = audit::usage_of(&plane.audit_log(), &user)?;
            let role = std::fs::read_to_string(self.dir.join(component.dir()).join("rbac.yaml"))?;
            let grants = audit::grants(&role)?;
            let not_granted: Vec<String> = usage
                .allowed
                .keys()
                .chain(usage.forbidden.keys())
                .filter(|a| !audit::granted(a, &grants))
                .map(ToString::to_string)
                .collect();
            anyhow::ensure!(
                usage.total() > 0,
                "{account} made no request as its account"
            );
            anyhow::ensure!(
                not_granted.is_empty(),
                "{account} asked for what its release's role does not grant: {not_granted:?}"
            );
            let refused: Vec<String> = usage
                .forbidden
                .iter()
                .map(|(a, n)| format!("{a} ×{n}"))
                .collect();
            lines.push(format!(
                "{account}: {} requests, all granted by its release's role; refused all the same: {refused:?}",
                usage.total()
            ));
        }
        Ok(lines)
    }
}

/// One of the two managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Cluster API core.
    ClusterApi,
    /// The Metal3 infrastructure provider.
    Capm3,
}

impl Component {
    fn dir(self) -> &'static str {
        match self {
            Component::ClusterApi => "capi",
            Component::Capm3 => "capm3",
        }
    }

    /// The contract labels Cluster API reads on a provider's CRDs (CAPM3's kustomization adds them;
    /// its bases, which we apply, do not carry them). Cluster API's own CRDs need none.
    fn labels(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Component::ClusterApi => &[],
            Component::Capm3 => &[
                ("cluster.x-k8s.io/v1beta1", "v1beta1"),
                ("cluster.x-k8s.io/v1beta2", "v1beta2"),
            ],
        }
    }
}

/// The manifests of `component` as applied here: each CRD with the contract labels and, when it
/// serves more than one version, a conversion webhook at `https://127.0.0.1:{port}/convert`; each
/// webhook configuration renamed `<component>-<name>` (both releases call theirs the same) with
/// every webhook's service replaced by the URL on `port` and `ca_b64` as its `caBundle`.
pub fn manifests(
    component: Component,
    crds: &[String],
    webhooks: &str,
    port: u16,
    ca_b64: &str,
) -> anyhow::Result<Vec<Value>> {
    let base = format!("https://127.0.0.1:{port}");
    let client_config = |path: &str| {
        let mut m = Mapping::new();
        m.insert("url".into(), format!("{base}{path}").into());
        m.insert("caBundle".into(), ca_b64.into());
        Value::Mapping(m)
    };
    let mut out = Vec::new();
    for text in crds {
        for doc in serde_yaml::Deserializer::from_str(text) {
            let mut crd = Value::deserialize(doc).context("parsing a CRD")?;
            if crd.is_null() {
                continue;
            }
            let name = crd["metadata"]["name"].as_str().unwrap_or("?").to_owned();
            let labels = crd["metadata"]
                .as_mapping_mut()
                .with_context(|| format!("CRD {name} has no metadata"))?
                .entry("labels".into())
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            for (k, v) in component.labels() {
                labels[*k] = (*v).into();
            }
            let versions = crd["spec"]["versions"].as_sequence().map_or(0, Vec::len);
            if versions > 1 {
                let conversion: Value = serde_yaml::from_str(
                    "strategy: Webhook\nwebhook:\n  conversionReviewVersions: [v1]\n",
                )?;
                crd["spec"]["conversion"] = conversion;
                crd["spec"]["conversion"]["webhook"]["clientConfig"] = client_config("/convert");
            }
            out.push(crd);
        }
    }
    for doc in serde_yaml::Deserializer::from_str(webhooks) {
        let mut config = Value::deserialize(doc).context("parsing a webhook configuration")?;
        if config.is_null() {
            continue;
        }
        let name = config["metadata"]["name"]
            .as_str()
            .unwrap_or("webhooks")
            .to_owned();
        config["metadata"]["name"] = format!("{}-{name}", component.dir()).into();
        for hook in config["webhooks"]
            .as_sequence_mut()
            .with_context(|| format!("{name} has no webhooks"))?
        {
            let path = hook["clientConfig"]["service"]["path"]
                .as_str()
                .with_context(|| format!("a webhook of {name} has no service path"))?
                .to_owned();
            hook["clientConfig"] = client_config(&path);
        }
        out.push(config);
    }
    Ok(out)
}

/// The namespace of the managers' ServiceAccounts: the operators' own, whose accounts the real
/// control plane's audit policy records (`kubernetes::audit::POLICY`).
pub const NAMESPACE: &str = crate::kubernetes::access::OPERATOR_NAMESPACE;

/// `rbac.yaml`'s manager ClusterRole renamed `name` (both releases call theirs `manager-role`),
/// rules unchanged.
pub fn manager_role(text: &str, name: &str) -> anyhow::Result<String> {
    let mut roles = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let mut value = Value::deserialize(doc).context("parsing a manager role")?;
        if value["kind"].as_str() != Some("ClusterRole") {
            continue;
        }
        value["metadata"]["name"] = name.into();
        roles.push(value);
    }
    anyhow::ensure!(
        roles.len() == 1,
        "the release's rbac.yaml should hold one ClusterRole, it holds {}",
        roles.len()
    );
    Ok(serde_yaml::to_string(&roles[0])?)
}

/// Cluster API and CAPM3 running against a real apiserver; killed when dropped.
#[derive(Debug)]
pub struct RunningCapi {
    processes: Vec<Process>,
}

impl RunningCapi {
    /// Installs both components' CRDs, webhooks and accounts on `plane` and starts both managers,
    /// each as its ServiceAccount, waiting (bounded) until each says it is ready.
    pub async fn start(plane: &RealControlPlane, capi: &Capi) -> anyhow::Result<RunningCapi> {
        use base64::Engine as _;
        let ip = std::net::Ipv4Addr::LOCALHOST;
        let certs = plane.dir().join("capi-webhook-certs");
        std::fs::create_dir_all(&certs)?;
        let serving = plane.pki().server(&["127.0.0.1"], "capi-webhooks")?;
        std::fs::write(certs.join("tls.crt"), &serving.cert_pem)?;
        metal_tls::secret::write_private(&certs.join("tls.key"), serving.key_pem.as_bytes())?;
        let ca_b64 = base64::engine::general_purpose::STANDARD.encode(&plane.pki().ca_pem);
        let admin = plane.admin_kubeconfig();
        let namespace =
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n");
        kubectl(admin, &["apply", "-f", "-"], Some(&namespace)).await?;
        let mut processes = Vec::new();
        for (component, bin) in [
            (Component::ClusterApi, &capi.capi_bin),
            (Component::Capm3, &capi.capm3_bin),
        ] {
            let dir = capi.dir.join(component.dir());
            let mut crd_files: Vec<PathBuf> = std::fs::read_dir(dir.join("crds"))
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect();
            crd_files.sort();
            let crds = crd_files
                .iter()
                .map(std::fs::read_to_string)
                .collect::<Result<Vec<_>, _>>()?;
            let webhooks = std::fs::read_to_string(dir.join("webhook.yaml"))?;
            let port = metal_testkit::ports::free_port_on(ip);
            let docs = manifests(component, &crds, &webhooks, port, &ca_b64)?;
            let mut yaml = String::new();
            for d in &docs {
                yaml.push_str("---\n");
                yaml.push_str(&serde_yaml::to_string(d)?);
            }
            kubectl(
                plane.admin_kubeconfig(),
                &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                Some(&yaml),
            )
            .await
            .with_context(|| format!("installing {}'s CRDs and webhooks", component.dir()))?;
            // Its own account, bound to exactly its release's manager role.
            let account = format!("{}-manager", component.dir());
            let role = manager_role(&std::fs::read_to_string(dir.join("rbac.yaml"))?, &account)?;
            kubectl(admin, &["apply", "-f", "-"], Some(&role)).await?;
            kubectl(
                admin,
                &["create", "serviceaccount", &account, "-n", NAMESPACE],
                None,
            )
            .await?;
            kubectl(
                admin,
                &[
                    "create",
                    "clusterrolebinding",
                    &account,
                    &format!("--clusterrole={account}"),
                    &format!("--serviceaccount={NAMESPACE}:{account}"),
                ],
                None,
            )
            .await?;
            let kubeconfig = plane.dir().join(format!("{account}.kubeconfig"));
            plane
                .cluster()
                .write_account_kubeconfig(NAMESPACE, &account, &kubeconfig)
                .await?;
            let health = metal_testkit::ports::free_port_on(ip);
            let diagnostics = metal_testkit::ports::free_port_on(ip);
            let args: Vec<String> = vec![
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--webhook-port={port}"),
                format!("--webhook-cert-dir={}", certs.display()),
                format!("--health-addr=127.0.0.1:{health}"),
                format!("--diagnostics-address=127.0.0.1:{diagnostics}"),
                "--insecure-diagnostics".into(),
                "--leader-elect=false".into(),
                "--v=2".into(),
            ];
            let name = match component {
                Component::ClusterApi => "cluster-api",
                Component::Capm3 => "capm3",
            };
            let process = Process::spawn(name, bin, &args, &[], plane.dir())
                .with_context(|| format!("starting {}", bin.display()))?;
            processes.push(process);
            let ready = format!("http://127.0.0.1:{health}/readyz");
            let http = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(2))
                .build()?;
            eventually(
                Duration::from_secs(90),
                &format!("{name} ready at {ready}"),
                || {
                    let http = http.clone();
                    let ready = ready.clone();
                    async move {
                        Ok(match http.get(&ready).send().await {
                            Ok(r) if r.status().is_success() => Check::Done(()),
                            Ok(r) => Check::Pending(r.status().to_string()),
                            Err(e) => Check::Pending(e.to_string()),
                        })
                    }
                },
            )
            .await
            .with_context(|| {
                format!(
                    "{name} did not become ready; its log:\n{}",
                    processes.last().map(|p| p.tail(40)).unwrap_or_default()
                )
            })?;
        }
        Ok(RunningCapi { processes })
    }

    /// The tail of each manager's log.
    pub fn log_tails(&self, lines: usize) -> String {
        self.processes
            .iter()
            .map(|p| format!("--- {} ---\n{}\n", p.name(), p.tail(lines)))
            .collect()
    }

    /// Fails if a manager exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        for p in &mut self.processes {
            p.check_running()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
                       name: metal3machines.infrastructure.cluster.x-k8s.io\nspec:\n  versions:\n  - name: v1beta1\n  \
                       - name: v1beta2\n";
    const HOOKS: &str = "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n\
                         metadata:\n  name: mutating-webhook-configuration\nwebhooks:\n- name: a\n  clientConfig:\n    \
                         service:\n      name: webhook-service\n      path: /mutate-x\n";

    #[test]
    fn crds_get_contract_labels_and_webhooks_point_at_loopback() {
        let docs = manifests(Component::Capm3, &[CRD.into()], HOOKS, 9443, "Q0E=").unwrap();
        assert_eq!(docs.len(), 2);
        let crd = &docs[0];
        assert_eq!(
            crd["metadata"]["labels"]["cluster.x-k8s.io/v1beta2"],
            "v1beta2"
        );
        assert_eq!(
            crd["spec"]["conversion"]["webhook"]["clientConfig"]["url"],
            "https://127.0.0.1:9443/convert"
        );
        let hooks = &docs[1];
        assert_eq!(
            hooks["metadata"]["name"],
            "capm3-mutating-webhook-configuration"
        );
        let client = &hooks["webhooks"][0]["clientConfig"];
        assert_eq!(client["url"], "https://127.0.0.1:9443/mutate-x");
        assert_eq!(client["caBundle"], "Q0E=");
        assert!(client.get("service").is_none());
    }

    #[test]
    fn the_manager_role_keeps_its_rules_under_its_new_name() {
        let text = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  \
                    name: manager-role\nrules:\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n";
        let role = manager_role(text, "capm3-manager").unwrap();
        assert!(role.contains("name: capm3-manager"), "{role}");
        assert!(role.contains("secrets"), "{role}");
        assert!(manager_role("kind: Role\n", "x").is_err());
    }

    #[test]
    fn a_webhook_without_a_path_is_an_error() {
        let bad = HOOKS.replace("      path: /mutate-x\n", "");
        let err = manifests(Component::ClusterApi, &[], &bad, 1, "x").unwrap_err();
        assert!(format!("{err:#}").contains("no service path"), "{err:#}");
    }
}
