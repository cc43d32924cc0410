//! Upstream Metal3's baremetal-operator (BMO) as a judge: where `make bmo` put it, and the one rule
//! for starting it on our testbed — out of cluster, one namespace, every listener on loopback or off,
//! Ironic at a loopback URL, nothing read from `/opt/metal3` (docs/upstream-bmo.md).

use std::net::SocketAddr;
use std::path::PathBuf;

/// What `scripts/bmo.sh` built, as its `bmo.env` names it.
#[derive(Debug, Clone)]
pub struct Bmo {
    /// The `baremetal-operator` binary.
    pub bin: PathBuf,
    /// The pinned release, e.g. `v0.13.2`.
    pub version: String,
    /// BMO's own CRDs, one YAML file per kind, as its release ships them.
    pub crds: PathBuf,
    /// BMO's manager ClusterRole (`config/base/rbac/role.yaml` of the release).
    pub rbac: PathBuf,
}

impl Bmo {
    /// Finds the build `make bmo` made (`BMO_BIN` and friends from the environment, else
    /// `$JUDGES_HOME/bmo.env`, default `~/.cache/metal-judges`), or says how to make it.
    pub fn locate() -> Result<Bmo, String> {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let vars: Vec<(String, String)> = match from_env("BMO_BIN") {
            Some(_) => ["BMO_BIN", "BMO_VERSION", "BMO_CRDS", "BMO_RBAC"]
                .iter()
                .filter_map(|k| from_env(k).map(|v| (k.to_string(), v)))
                .collect(),
            None => crate::judges::env_file("bmo", "upstream baremetal-operator")?,
        };
        let get = |k: &str| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("{k} is not set by `make bmo`'s bmo.env: run `make bmo`"))
        };
        let bmo = Bmo {
            bin: PathBuf::from(get("BMO_BIN")?),
            version: get("BMO_VERSION")?,
            crds: PathBuf::from(get("BMO_CRDS")?),
            rbac: PathBuf::from(get("BMO_RBAC")?),
        };
        for path in [&bmo.bin, &bmo.rbac] {
            if !path.is_file() {
                return Err(format!("{} is missing: run `make bmo`", path.display()));
            }
        }
        if !bmo.crds.is_dir() {
            return Err(format!("{} is missing: run `make bmo`", bmo.crds.display()));
        }
        Ok(bmo)
    }

    /// [`Bmo::locate`] for a test: `None` after a loud SKIP line when BMO is not built, a panic
    /// under `REQUIRE_PEERS=1`.
    pub fn for_test(test: &str) -> Option<Bmo> {
        match Bmo::locate() {
            Ok(b) => Some(b),
            Err(e) if crate::peers::peers_required() => {
                panic!("{test}: {e} — but REQUIRE_PEERS=1")
            }
            Err(e) => {
                eprintln!("\n!!!!!!!! SKIP {test}: {e} !!!!!!!!\n");
                None
            }
        }
    }

    /// BMO's CRD files, sorted.
    pub fn crd_files(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.crds)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        Ok(files)
    }
}

/// One BMO process's settings on our testbed.
#[derive(Debug, Clone)]
pub struct BmoLaunch {
    /// Ironic's base URL (`http://127.0.0.1:PORT`, with or without `/v1`).
    pub ironic_url: String,
    /// The one namespace BMO watches.
    pub namespace: String,
    /// Its health probe (`/healthz`, `/readyz`), on loopback.
    pub health: SocketAddr,
    /// Where the deploy kernel, ramdisk and ISO are served (`BASE/ipa.kernel`, …).
    pub deploy_base: String,
    /// A directory of its own: the empty auth root (Ironic without auth) lives there.
    pub work_dir: PathBuf,
    /// The kubeconfig it authenticates with.
    pub kubeconfig: PathBuf,
    /// `BMO_CONCURRENCY` (reconciles at once); `None`: BMO's default.
    pub concurrency: Option<u32>,
}

impl BmoLaunch {
    /// The command-line flags: webhooks and metrics off (their defaults bind every interface), the
    /// health probe on loopback, one namespace, development logging.
    pub fn args(&self) -> Vec<String> {
        assert!(
            self.health.ip().is_loopback(),
            "BMO's health probe must listen on loopback, not {}",
            self.health
        );
        vec![
            "-namespace".into(),
            self.namespace.clone(),
            "-dev".into(),
            "-metrics-addr".into(),
            "0".into(),
            "-health-addr".into(),
            self.health.to_string(),
            "-webhook-port".into(),
            "0".into(),
        ]
    }

    /// The environment: Ironic and the deploy images, an empty auth root (noauth), TLS files that
    /// do not exist (so nothing under `/opt/metal3` is read), `KUBECONFIG`.
    pub fn env(&self) -> std::io::Result<Vec<(String, String)>> {
        let auth = self.work_dir.join("bmo-auth");
        std::fs::create_dir_all(&auth)?;
        let base = self.ironic_url.trim_end_matches('/');
        let endpoint = if base.ends_with("/v1") {
            format!("{base}/")
        } else {
            format!("{base}/v1/")
        };
        let deploy = self.deploy_base.trim_end_matches('/');
        let absent = |name: &str| self.work_dir.join(name).display().to_string();
        let mut env = vec![
            ("IRONIC_ENDPOINT".to_owned(), endpoint),
            (
                "DEPLOY_KERNEL_URL".to_owned(),
                format!("{deploy}/ipa.kernel"),
            ),
            (
                "DEPLOY_RAMDISK_URL".to_owned(),
                format!("{deploy}/ipa.initramfs"),
            ),
            ("DEPLOY_ISO_URL".to_owned(), format!("{deploy}/ipa.iso")),
            (
                "METAL3_AUTH_ROOT_DIR".to_owned(),
                auth.display().to_string(),
            ),
            ("IRONIC_CACERT_FILE".to_owned(), absent("no-ca.crt")),
            (
                "IRONIC_CLIENT_CERT_FILE".to_owned(),
                absent("no-client.crt"),
            ),
            (
                "IRONIC_CLIENT_PRIVATE_KEY_FILE".to_owned(),
                absent("no-client.key"),
            ),
            (
                "KUBECONFIG".to_owned(),
                self.kubeconfig.display().to_string(),
            ),
        ];
        if let Some(n) = self.concurrency {
            env.push(("BMO_CONCURRENCY".to_owned(), n.to_string()));
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_file_of_make_bmo_is_read() {
        let vars = crate::judges::parse_env(
            "export BMO_BIN=\"/a/b\"\nexport BMO_VERSION=\"v0.13.2\"\n# x\n",
        );
        assert_eq!(
            vars,
            vec![
                ("BMO_BIN".to_owned(), "/a/b".to_owned()),
                ("BMO_VERSION".to_owned(), "v0.13.2".to_owned())
            ]
        );
    }

    #[test]
    fn bmo_listens_on_loopback_only_and_reads_nothing_outside_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let launch = BmoLaunch {
            ironic_url: "http://127.0.0.1:6385".into(),
            namespace: "ns".into(),
            health: "127.0.0.1:9440".parse().unwrap(),
            deploy_base: "http://127.0.0.1:8080/".into(),
            work_dir: dir.path().to_path_buf(),
            kubeconfig: dir.path().join("kubeconfig"),
            concurrency: Some(8),
        };
        let args = launch.args();
        let after = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        assert_eq!(after("-metrics-addr"), "0");
        assert_eq!(after("-webhook-port"), "0");
        assert_eq!(after("-health-addr"), "127.0.0.1:9440");
        let env = launch.env().unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("IRONIC_ENDPOINT"), "http://127.0.0.1:6385/v1/");
        assert_eq!(get("DEPLOY_KERNEL_URL"), "http://127.0.0.1:8080/ipa.kernel");
        assert_eq!(get("BMO_CONCURRENCY"), "8");
        for (name, value) in &env {
            if name.ends_with("_FILE") || name == "METAL3_AUTH_ROOT_DIR" {
                assert!(
                    value.starts_with(&dir.path().display().to_string()),
                    "{name}"
                );
            }
        }
        assert!(dir.path().join("bmo-auth").is_dir());
    }

    #[test]
    #[should_panic(expected = "loopback")]
    fn a_health_probe_off_loopback_is_refused() {
        let launch = BmoLaunch {
            ironic_url: "http://127.0.0.1:6385/v1".into(),
            namespace: "ns".into(),
            health: "0.0.0.0:9440".parse().unwrap(),
            deploy_base: "http://127.0.0.1:8080".into(),
            work_dir: PathBuf::from("/nonexistent"),
            kubeconfig: PathBuf::from("/nonexistent/kubeconfig"),
            concurrency: None,
        };
        let _ = launch.args();
    }
}
