//! A real Kubernetes control plane as the judge, run the way controller-runtime's envtest runs one:
//! etcd, kube-apiserver (RBAC enforced, client-certificate and service-account authentication) and
//! kube-controller-manager (garbage collector and namespace controllers) as ordinary processes on
//! loopback, with no kubelet and no Docker. The binaries are built from pinned Go modules by
//! `make k8s` (`scripts/k8s.sh`, `judges/kubernetes/go.mod`).
//!
//! - [`KubeBinaries`]: where the built binaries are (`KUBE_BIN_DIR`, else `~/.cache/metal-judges/k8s.env`).
//! - [`RealControlPlane::start`]: certificates ([`pki`]), processes, an admin kubeconfig, bounded
//!   readiness waits; every process is killed when the handle drops.
//! - [`access`]: what the operator gets on the real server — the CRDs and the RBAC from `kind/`, and a
//!   kubeconfig holding a ServiceAccount token bound to exactly that role.
//! - [`upstream`]: the same server as upstream Metal3 users run it — BMO's own CRDs, and BMO's
//!   ServiceAccount bound to its release's ClusterRole beside ours.

pub mod access;
pub mod audit;
pub mod pki;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::Process;
use crate::wait::{Check, eventually};
use pki::{Credential, Pki, write_kubeconfig};

/// How long each component gets to become ready (a cold start on 2 busy cores takes a few seconds).
const READY: Duration = Duration::from_secs(90);
/// Start attempts when a port probed free was taken before the component bound it.
const ATTEMPTS: u32 = 3;
/// The Service network the apiserver is told about (it allocates from it; nothing is ever sent there).
const SERVICE_RANGE: &str = "10.0.0.0/24";

/// The three built binaries.
#[derive(Debug, Clone)]
pub struct KubeBinaries {
    pub apiserver: PathBuf,
    pub controller_manager: PathBuf,
    pub etcd: PathBuf,
}

impl KubeBinaries {
    /// Finds the binaries `make k8s` built, or says how to build them.
    pub fn locate() -> anyhow::Result<KubeBinaries> {
        let dir = match std::env::var_os("KUBE_BIN_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dir_from_env_file()?,
        };
        Self::in_dir(&dir)
    }

    /// The binaries in `dir`, or an error naming the first one missing.
    pub fn in_dir(dir: &Path) -> anyhow::Result<KubeBinaries> {
        let bins = KubeBinaries {
            apiserver: dir.join("kube-apiserver"),
            controller_manager: dir.join("kube-controller-manager"),
            etcd: dir.join("etcd"),
        };
        for path in [&bins.apiserver, &bins.controller_manager, &bins.etcd] {
            if !path.is_file() {
                bail!(
                    "{} is missing: run `make k8s` (scripts/k8s.sh builds kube-apiserver, \
                     kube-controller-manager and etcd from judges/kubernetes/go.mod)",
                    path.display()
                );
            }
        }
        Ok(bins)
    }
}

/// `KUBE_BIN_DIR` from the file `scripts/k8s.sh` writes.
fn dir_from_env_file() -> anyhow::Result<PathBuf> {
    let vars = metal_testkit::judges::env_file("k8s", "the real Kubernetes control plane")
        .map_err(anyhow::Error::msg)?;
    vars.into_iter()
        .find(|(k, _)| k == "KUBE_BIN_DIR")
        .map(|(_, v)| PathBuf::from(v))
        .context("k8s.env does not set KUBE_BIN_DIR")
}

/// How long each component took to become ready.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartupTimes {
    pub etcd: Duration,
    pub apiserver: Duration,
    pub controller_manager: Duration,
    pub total: Duration,
}

/// Loopback ports of one start.
#[derive(Debug, Clone, Copy)]
struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    apiserver: u16,
    controller_manager: u16,
}

impl Ports {
    /// Four loopback ports (never the same one twice: `metal_testkit::ports`).
    fn draw() -> Ports {
        use metal_testkit::ports::free_port;
        Ports {
            etcd_client: free_port(),
            etcd_peer: free_port(),
            apiserver: free_port(),
            controller_manager: free_port(),
        }
    }
}

/// A running etcd + kube-apiserver + kube-controller-manager. Dropping it kills all three.
pub struct RealControlPlane {
    dir: PathBuf,
    /// The directory of the attempt that started (`dir/run-N`).
    run_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pki: Pki,
    server: String,
    admin_kubeconfig: PathBuf,
    processes: Vec<Process>,
    times: StartupTimes,
    version: String,
}

impl std::fmt::Debug for RealControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealControlPlane")
            .field("server", &self.server)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl RealControlPlane {
    /// Starts a control plane whose files (certificates, etcd data, logs, kubeconfigs) live in `dir`,
    /// or in a temporary directory removed on drop when `dir` is `None`.
    pub async fn start(dir: Option<&Path>) -> anyhow::Result<RealControlPlane> {
        Self::start_with(&KubeBinaries::locate()?, dir, READY).await
    }

    /// Like [`RealControlPlane::start`] with these binaries, each component given `ready` to
    /// become ready.
    pub async fn start_with(
        bins: &KubeBinaries,
        dir: Option<&Path>,
        ready: Duration,
    ) -> anyhow::Result<RealControlPlane> {
        let (dir, tmp) = match dir {
            Some(d) => (d.to_path_buf(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("metal-kube-")
                    .tempdir()
                    .context("creating the control plane's directory")?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            let run_dir = dir.join(format!("run-{attempt}"));
            match Self::start_once(bins, &run_dir, ready).await {
                Ok(mut started) => {
                    started.dir = dir;
                    started._tmp = tmp;
                    return Ok(started);
                }
                // A port probed free was taken before the component bound it: draw others.
                Err(e) if format!("{e:#}").contains("address already in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the control plane did not start")))
    }

    async fn start_once(
        bins: &KubeBinaries,
        dir: &Path,
        ready: Duration,
    ) -> anyhow::Result<RealControlPlane> {
        let begin = Instant::now();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pki = Pki::generate(&dir.join("pki"))?;
        let ports = Ports::draw();
        let http = crate::sim::http_client()?;
        let mut processes = Vec::new();

        // etcd: plain HTTP on loopback, no fsync (a throwaway store).
        let client_url = format!("http://127.0.0.1:{}", ports.etcd_client);
        let peer_url = format!("http://127.0.0.1:{}", ports.etcd_peer);
        let etcd_args: Vec<String> = vec![
            "--name=default".into(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ];
        processes.push(Process::spawn("etcd", &bins.etcd, &etcd_args, &[], dir)?);
        let health = format!("{client_url}/health");
        wait_ready(&mut processes[0], "etcd", ready, || {
            let http = http.clone();
            let url = health.clone();
            async move {
                Ok(match http.get(&url).send().await {
                    Ok(r) => {
                        let body = r.text().await.unwrap_or_default();
                        if body.contains("\"health\":\"true\"") {
                            Check::Done(())
                        } else {
                            Check::Pending(format!("/health says {body}"))
                        }
                    }
                    Err(e) => Check::Pending(format!("/health: {e}")),
                })
            }
        })
        .await?;
        let etcd_ready = begin.elapsed();

        // kube-apiserver: secure port on loopback only, RBAC, our CA for clients, the operator's
        // requests in the audit log.
        let policy = dir.join("audit-policy.yaml");
        std::fs::write(&policy, audit::POLICY)?;
        let server = format!("https://127.0.0.1:{}", ports.apiserver);
        let apiserver_args: Vec<String> = vec![
            format!("--etcd-servers={client_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", ports.apiserver),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", pki.serving_cert.display()),
            format!("--tls-private-key-file={}", pki.serving_key.display()),
            format!("--client-ca-file={}", pki.ca_cert.display()),
            "--authorization-mode=RBAC".into(),
            format!("--service-cluster-ip-range={SERVICE_RANGE}"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", pki.sa_pub.display()),
            format!(
                "--service-account-signing-key-file={}",
                pki.sa_key.display()
            ),
            "--allow-privileged=true".into(),
            // No pods run here; the ServiceAccount admission plugin would wait for token Secrets.
            "--disable-admission-plugins=ServiceAccount".into(),
            // Strictest owner-reference rule (OpenShift enables it): setting blockOwnerDeletion
            // needs `update` on the owner's finalizers, which kind/operator/rbac.yaml grants.
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement".into(),
            // A lone apiserver on loopback: no endpoint reconciliation for a Service network it is
            // never reached through.
            "--endpoint-reconciler-type=none".into(),
            format!("--audit-policy-file={}", policy.display()),
            format!("--audit-log-path={}", dir.join("audit.log").display()),
            "--audit-log-format=json".into(),
            "--audit-log-mode=blocking".into(),
            "--v=1".into(),
        ];
        processes.push(Process::spawn(
            "kube-apiserver",
            &bins.apiserver,
            &apiserver_args,
            &[],
            dir,
        )?);
        let admin = pki.client("metal-e2e-admin", &["system:masters"])?;
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        write_kubeconfig(
            &admin_kubeconfig,
            &server,
            &pki.ca_pem,
            "admin",
            Credential::Certificate(&admin),
        )?;
        let client = client_for(&admin_kubeconfig).await?;
        wait_ready(&mut processes[1], "kube-apiserver", ready, || {
            let client = client.clone();
            async move {
                let request = http::Request::get("/readyz").body(Vec::new())?;
                Ok(match client.request_text(request).await {
                    Ok(text) if text.trim() == "ok" => Check::Done(()),
                    Ok(text) => Check::Pending(format!("/readyz says {text}")),
                    Err(e) => Check::Pending(format!("/readyz: {e}")),
                })
            }
        })
        .await?;
        let apiserver_ready = begin.elapsed();
        let version = client
            .apiserver_version()
            .await
            .context("GET /version")?
            .git_version;

        // kube-controller-manager: only what a test cluster without nodes needs.
        let kcm_certs = pki.server(&["127.0.0.1", "localhost"], "kube-controller-manager")?;
        let kcm_cert = dir.join("pki/kcm.crt");
        let kcm_key = dir.join("pki/kcm.key");
        std::fs::write(&kcm_cert, &kcm_certs.cert_pem)?;
        pki::write_private(&kcm_key, &kcm_certs.key_pem)?;
        let kubeconfig = admin_kubeconfig.display().to_string();
        let kcm_args: Vec<String> = vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--controllers=garbage-collector-controller,namespace-controller".into(),
            "--leader-elect=false".into(),
            "--use-service-account-credentials=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", ports.controller_manager),
            format!("--tls-cert-file={}", kcm_cert.display()),
            format!("--tls-private-key-file={}", kcm_key.display()),
            format!("--cert-dir={}", dir.join("kcm-certs").display()),
            "--v=1".into(),
        ];
        processes.push(Process::spawn(
            "kube-controller-manager",
            &bins.controller_manager,
            &kcm_args,
            &[],
            dir,
        )?);
        let kcm_http = tls_client(&pki.ca_pem)?;
        let kcm_health = format!("https://127.0.0.1:{}/healthz", ports.controller_manager);
        wait_ready(&mut processes[2], "kube-controller-manager", ready, || {
            let http = kcm_http.clone();
            let url = kcm_health.clone();
            async move {
                Ok(match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Check::Done(()),
                    Ok(r) => Check::Pending(format!("/healthz {}", r.status())),
                    Err(e) => Check::Pending(format!("/healthz: {e}")),
                })
            }
        })
        .await?;
        let times = StartupTimes {
            etcd: etcd_ready,
            apiserver: apiserver_ready - etcd_ready,
            controller_manager: begin.elapsed() - apiserver_ready,
            total: begin.elapsed(),
        };
        Ok(RealControlPlane {
            dir: dir.to_path_buf(),
            run_dir: dir.to_path_buf(),
            _tmp: None,
            pki,
            server,
            admin_kubeconfig,
            processes,
            times,
            version,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A kubeconfig with the admin identity (`system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The server as its admin reaches it.
    pub fn cluster(&self) -> access::Cluster {
        access::Cluster {
            admin_kubeconfig: self.admin_kubeconfig.clone(),
            server: self.server.clone(),
            ca_pem: self.pki.ca_pem.clone(),
        }
    }

    /// The certificates (to sign webhook servers, make more users, or trust the apiserver).
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The directory with every file of this start (logs are `<component>.log` in its `run-N/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The audit log (the operator's ServiceAccounts' requests, see [`audit::POLICY`]).
    pub fn audit_log(&self) -> PathBuf {
        self.run_dir.join("audit.log")
    }

    /// How long the start took, per component.
    pub fn startup_times(&self) -> StartupTimes {
        self.times
    }

    /// What `/version` reports (the pinned release, stamped at build time).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A client with the admin identity.
    pub async fn admin_client(&self) -> anyhow::Result<kube::Client> {
        client_for(&self.admin_kubeconfig).await
    }

    /// An error naming each component that has exited, with the tail of its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        let mut dead = Vec::new();
        for p in &mut self.processes {
            if let Some(status) = p.exited() {
                dead.push(format!(
                    "{} exited ({status}); its log ends with:\n{}",
                    p.name(),
                    p.tail(30)
                ));
            }
        }
        if dead.is_empty() {
            Ok(())
        } else {
            bail!("the real control plane died: {}", dead.join("\n"))
        }
    }

    /// The last lines of every component's log.
    pub fn log_tails(&self, lines: usize) -> String {
        self.processes
            .iter()
            .map(|p| format!("--- tail of {} log\n{}", p.name(), p.tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops every component (SIGKILL; the store is thrown away anyway).
    pub async fn stop(mut self) {
        for p in self.processes.iter_mut().rev() {
            let _ = p.kill().await;
        }
    }
}

/// Waits until `look` says ready, failing at once (with the log tail) if the process exits.
async fn wait_ready<F, Fut>(
    process: &mut Process,
    what: &str,
    limit: Duration,
    mut look: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Check<()>>>,
{
    let result = eventually(limit, &format!("{what} to be ready"), || {
        let exited = process.exited();
        let tail = process.tail(30);
        let name = process.name().to_owned();
        let fut = look();
        async move {
            if let Some(status) = exited {
                bail!("{name} exited ({status}) before it was ready; its log ends with:\n{tail}");
            }
            fut.await
        }
    })
    .await;
    result.map_err(|e| {
        // A timeout also shows what the component last said.
        if format!("{e:#}").contains("timed out") {
            e.context(format!(
                "{what} did not become ready; its log ends with:\n{}",
                process.tail(30)
            ))
        } else {
            e
        }
    })
}

/// A real apiserver for one test: the run's shared one (`E2E_CONTROL_PLANE=real`), or else one the
/// test starts for itself (with the CRDs and the operator's RBAC installed). `Ok(None)` — after a loud
/// SKIP line — when the binaries are not built and `REQUIRE_PEERS` is not `1`.
pub struct Judge {
    /// The server as its admin reaches it.
    pub cluster: access::Cluster,
    /// The operator's ServiceAccount kubeconfig.
    pub operator_kubeconfig: PathBuf,
    own: Option<RealControlPlane>,
}

impl Judge {
    /// Finds or starts the real apiserver for `test`.
    pub async fn get(test: &str) -> anyhow::Result<Option<Judge>> {
        match crate::mode::Mode::from_env()? {
            crate::mode::Mode::Real(state) => Ok(Some(Judge {
                cluster: access::Cluster {
                    admin_kubeconfig: state.admin_kubeconfig.clone(),
                    server: state.server.clone(),
                    ca_pem: std::fs::read_to_string(&state.ca_cert)
                        .with_context(|| format!("reading {}", state.ca_cert.display()))?,
                },
                operator_kubeconfig: state.operator_kubeconfig,
                own: None,
            })),
            crate::mode::Mode::External(_) => {
                eprintln!(
                    "SKIP {test}: needs a real apiserver the suite starts (not E2E_KUBECONFIG)"
                );
                Ok(None)
            }
            crate::mode::Mode::Embedded => {
                if let Err(e) = KubeBinaries::locate() {
                    if std::env::var("REQUIRE_PEERS").as_deref() == Ok("1") {
                        return Err(
                            e.context("REQUIRE_PEERS=1 and the real control plane is missing")
                        );
                    }
                    eprintln!("SKIP {test}: {e:#}");
                    return Ok(None);
                }
                let plane = RealControlPlane::start(None).await?;
                let root = crate::binaries::workspace_root();
                let installed = access::install(&plane, &root).await?;
                Ok(Some(Judge {
                    cluster: access::Cluster {
                        admin_kubeconfig: plane.admin_kubeconfig().to_path_buf(),
                        server: plane.server().to_owned(),
                        ca_pem: plane.pki().ca_pem.clone(),
                    },
                    operator_kubeconfig: installed.kubeconfig,
                    own: Some(plane),
                }))
            }
        }
    }

    /// A client with the admin identity.
    pub async fn admin_client(&self) -> anyhow::Result<kube::Client> {
        client_for(&self.cluster.admin_kubeconfig).await
    }

    /// Runs kubectl as the cluster admin.
    pub async fn kubectl(&self, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
        crate::kubectl::kubectl(&self.cluster.admin_kubeconfig, args, input).await
    }

    /// The control plane this test started, if it started one.
    pub fn own(&mut self) -> Option<&mut RealControlPlane> {
        self.own.as_mut()
    }
}

/// A kube client for a kubeconfig file.
pub async fn client_for(path: &Path) -> anyhow::Result<kube::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// An HTTPS client that trusts exactly `ca_pem`.
pub fn tls_client(ca_pem: &str) -> anyhow::Result<reqwest::Client> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(ca_pem)? {
        roots
            .add(cert)
            .context("adding the CA to the trust store")?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .context("building the HTTPS client")
}

fn rustls_pemfile_certs(
    pem: &str,
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the CA PEM")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binaries that are shell scripts: `etcd` runs `etcd_script`, the others never run.
    fn fake_bins(dir: &Path, etcd_script: &str) -> KubeBinaries {
        use std::os::unix::fs::PermissionsExt as _;
        for (name, body) in [
            ("etcd", etcd_script),
            ("kube-apiserver", "exit 1"),
            ("kube-controller-manager", "exit 1"),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        KubeBinaries::in_dir(dir).unwrap()
    }

    #[test]
    fn missing_binaries_are_named_with_the_command_that_builds_them() {
        let dir = tempfile::tempdir().unwrap();
        let err = KubeBinaries::in_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("kube-apiserver is missing") && err.contains("make k8s"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_component_that_dies_at_start_fails_the_start_naming_it_with_its_log_tail() {
        let bins_dir = tempfile::tempdir().unwrap();
        let bins = fake_bins(
            bins_dir.path(),
            "echo 'etcd: cannot access data directory: permission denied' >&2; exit 3",
        );
        let err = RealControlPlane::start_with(&bins, None, Duration::from_secs(30))
            .await
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("etcd exited") && text.contains("permission denied"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_component_that_never_becomes_ready_fails_within_the_bound_with_its_log_tail() {
        let bins_dir = tempfile::tempdir().unwrap();
        let bins = fake_bins(
            bins_dir.path(),
            "echo 'etcd: waiting for a quorum that never comes'; exec sleep 60",
        );
        let started = Instant::now();
        let err = RealControlPlane::start_with(&bins, None, Duration::from_secs(2))
            .await
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(started.elapsed() < Duration::from_secs(20), "{text}");
        assert!(
            text.contains("etcd did not become ready") && text.contains("quorum that never comes"),
            "{text}"
        );
    }
}
