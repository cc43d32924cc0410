//! One test's stack: a control plane (the embedded one per test, or the run's real kube-apiserver —
//! see [`crate::mode`]), `metal-sim serve` (fleet BMCs + mock Ironic) and the operator(s), each a real
//! process on the test's own loopback addresses — or, with `E2E_KUBECONFIG`, an external cluster
//! (kind) whose simulator and mock Ironic are reached at `E2E_SIM_CONTROL` and `E2E_IRONIC_URL`,
//! where nothing is started.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::Kubeconfig;
use metal_operator::api::BareMetalHost;
use serde_json::json;

use crate::binaries::{Binaries, workspace_root};
use crate::fleet::{FleetHost, TestFleet};
use crate::images::{ImageRef, ImageServer};
use crate::kubectl::Kubectl;
use crate::kubernetes::access::OPERATOR_NAMESPACE;
use crate::kubernetes::client_for;
use crate::loopback::Subnet;
use crate::mode::Mode;
use crate::process::Process;
use crate::sim::{IronicApi, SimControl, http_client};
use crate::wait::{Check, eventually, eventually_ok};

/// What a test does to its hosts and waits for: register, provision, deprovision, states, power.
/// BIOS settings: a host's HostFirmwareSettings set and awaited, the machine's BIOS read.
mod firmware;
mod hosts;
/// The operator processes of embedded mode: start, kill, metrics, logs.
mod operators;

/// How long a process gets to come up.
const STARTUP: Duration = Duration::from_secs(60);
/// How many subnets are tried when the simulator cannot bind its BMCs.
const SERVE_ATTEMPTS: u32 = 4;

/// The operator a stack runs: ours (the default), upstream Metal3's baremetal-operator, or any
/// program that keeps the contract of [`OperatorUnderTest::Command`].
#[derive(Debug, Clone, Default)]
pub enum OperatorUnderTest {
    /// `metal-operator run` from the target directory.
    #[default]
    Ours,
    /// Upstream BMO as `make bmo` built it, started by the one rule of
    /// [`metal_testkit::bmo::BmoLaunch`]. It needs upstream's CRDs: a cluster set up by
    /// `metal-kube up --crds upstream` or [`crate::kubernetes::upstream::install`].
    Bmo(metal_testkit::bmo::Bmo),
    /// Any program with these arguments. Its environment: `KUBECONFIG`, `WATCH_NAMESPACE`,
    /// `IRONIC_ENDPOINT` (`http://…/v1/`), `DEPLOY_KERNEL_URL`, `DEPLOY_RAMDISK_URL`,
    /// `DEPLOY_ISO_URL` and `HEALTH_ADDR` (a loopback `IP:PORT` where it must answer
    /// `GET /readyz` with 2xx once it is ready).
    Command {
        /// The program.
        program: std::path::PathBuf,
        /// Its arguments.
        args: Vec<String>,
    },
}

impl OperatorUnderTest {
    /// The suite's operator, from `E2E_OPERATOR`: unset or `ours`; `bmo` (as `make bmo` built
    /// it); or `cmd:PROGRAM ARG…` (split on whitespace). A value naming an operator that is not
    /// available panics with what to do — a test must not silently run another operator.
    pub fn from_env() -> OperatorUnderTest {
        match std::env::var("E2E_OPERATOR").ok().as_deref().map(str::trim) {
            None | Some("") | Some("ours") => OperatorUnderTest::Ours,
            Some("bmo") => match metal_testkit::bmo::Bmo::locate() {
                Ok(bmo) => OperatorUnderTest::Bmo(bmo),
                Err(e) => panic!("E2E_OPERATOR=bmo: {e}"),
            },
            Some(other) => match other.strip_prefix("cmd:").map(str::split_whitespace) {
                Some(mut words) => match words.next() {
                    Some(program) => OperatorUnderTest::Command {
                        program: program.into(),
                        args: words.map(str::to_owned).collect(),
                    },
                    None => panic!("E2E_OPERATOR=cmd: names no program"),
                },
                None => {
                    panic!("E2E_OPERATOR={other:?}: expected `ours`, `bmo` or `cmd:PROGRAM ARGS…`")
                }
            },
        }
    }

    /// A short name for logs and messages (`ours`, `bmo`, the program's file name).
    pub fn name(&self) -> String {
        match self {
            OperatorUnderTest::Ours => "ours".into(),
            OperatorUnderTest::Bmo(b) => format!("bmo-{}", b.version),
            OperatorUnderTest::Command { program, .. } => program
                .file_name()
                .map_or("command".into(), |n| n.to_string_lossy().into_owned()),
        }
    }
}

/// What a test asks for.
#[derive(Debug, Clone)]
pub struct Setup {
    name: String,
    fleet: String,
    operators: usize,
    leader_elect: bool,
    external_ironic: Option<String>,
    deploy_base: Option<String>,
    operator: OperatorUnderTest,
    cluster: Option<crate::mode::RealState>,
}

impl Setup {
    /// A stack named `name` (its namespace is `e2e-<name>`) serving `fleet` (relative to the workspace
    /// root, e.g. `fleets/e2e-lifecycle.yaml`), with one operator.
    pub fn new(name: &str, fleet: &str) -> Setup {
        Setup {
            name: name.to_owned(),
            fleet: fleet.to_owned(),
            operators: 1,
            leader_elect: false,
            external_ironic: None,
            deploy_base: None,
            operator: OperatorUnderTest::from_env(),
            cluster: None,
        }
    }

    /// Runs `operator` instead of ours.
    pub fn operator(mut self, operator: OperatorUnderTest) -> Setup {
        self.operator = operator;
        self
    }

    /// Runs on this real apiserver (shared with other stacks, one namespace each) whatever the
    /// suite's mode is.
    pub fn on_cluster(mut self, state: crate::mode::RealState) -> Setup {
        self.cluster = Some(state);
        self
    }

    /// Embedded mode without the mock: `metal-sim serve --ironic-url URL` points the fleet's fake agents
    /// at this Ironic (e.g. real Ironic on loopback) and the operator talks to it. The mock's request
    /// journal ([`Stack::ironic_requests_for`]) is then unavailable.
    pub fn external_ironic(mut self, url: &str) -> Setup {
        self.external_ironic = Some(url.to_owned());
        self
    }

    /// Where the operator's deploy kernel and ramdisk are served (`BASE/ipa.kernel`,
    /// `BASE/ipa.initramfs`, `BASE/ipa.iso`): real Ironic downloads them, the mock never does.
    pub fn deploy_images(mut self, base: &str) -> Setup {
        self.deploy_base = Some(base.trim_end_matches('/').to_owned());
        self
    }

    /// Runs `n` operator replicas (embedded mode).
    pub fn operators(mut self, n: usize) -> Setup {
        self.operators = n;
        self
    }

    /// Turns on leader election (a Lease in the test's namespace, short timings).
    pub fn leader_elect(mut self) -> Setup {
        self.leader_elect = true;
        self
    }
}

/// The processes of embedded mode.
struct Local {
    dir: Option<tempfile::TempDir>,
    bins: Binaries,
    subnet: Subnet,
    ironic_url: String,
    /// The embedded control plane (none when the run's real apiserver is used).
    controlplane: Option<Process>,
    sim: Process,
    operators: Vec<Process>,
    running: Vec<bool>,
}

/// A running stack. Dropping it without [`Stack::finish`] (a failed test) prints the hosts, the Events
/// and the tail of every process log.
pub struct Stack {
    setup: Setup,
    namespace: String,
    mode: Mode,
    kubeconfig: PathBuf,
    /// What the operator authenticates with: on the real apiserver the ServiceAccount's token bound
    /// to `kind/operator/rbac.yaml`, elsewhere the same kubeconfig as the tests.
    operator_kubeconfig: PathBuf,
    client: kube::Client,
    sim: SimControl,
    ironic: IronicApi,
    fleet: TestFleet,
    hosts: Vec<FleetHost>,
    local: Option<Local>,
    image: ImageRef,
    _images: Option<ImageServer>,
    http: reqwest::Client,
    started_at: chrono::DateTime<chrono::Utc>,
    finished: bool,
}

/// True when `E2E_KUBECONFIG` selects an external cluster (kind): tests that need their own processes
/// or a fleet the external simulator does not serve can skip before calling [`Stack::start`].
pub fn external_cluster() -> bool {
    env_path("E2E_KUBECONFIG").is_some()
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn require_env(var: &str) -> anyhow::Result<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| {
            format!("{var} must be set when E2E_KUBECONFIG selects an external cluster")
        })
}

/// Waits until `file` exists and parses, while `process` keeps running.
async fn wait_for_file<T>(
    process: &mut Process,
    file: &Path,
    parse: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let what = format!("{} to write {}", process.name(), file.display());
    eventually(STARTUP, &what, || {
        let exited = process.exited();
        let read = std::fs::read_to_string(file).ok().map(|text| parse(&text));
        let tail = process.tail(20);
        let name = process.name().to_owned();
        async move {
            if let Some(status) = exited {
                bail!("{name} exited ({status}) before it was ready; its log ends with:\n{tail}");
            }
            Ok(match read {
                Some(Ok(v)) => Check::Done(v),
                Some(Err(e)) => Check::Pending(format!("unreadable yet: {e:#}")),
                None => Check::Pending("no file yet".into()),
            })
        }
    })
    .await
}

impl Stack {
    /// Starts the stack for `setup` (embedded mode), or connects to `E2E_KUBECONFIG`'s cluster.
    pub async fn start(setup: Setup) -> anyhow::Result<Stack> {
        // Journal entries are compared with this; a second of slack covers clock granularity.
        let started_at = chrono::Utc::now() - chrono::Duration::seconds(1);
        let root = workspace_root();
        let fleet = TestFleet::load(&root, &setup.fleet)?;
        let http = http_client()?;
        let namespace = format!("e2e-{}", setup.name);
        check_kubectl()?;
        let mode = match &setup.cluster {
            Some(state) => Mode::Real(state.clone()),
            None => Mode::from_env()?,
        };
        let (kubeconfig, operator_kubeconfig, local, sim_url, ironic_url) = match &mode {
            Mode::External(path) => (
                path.clone(),
                path.clone(),
                None,
                require_env("E2E_SIM_CONTROL")?,
                require_env("E2E_IRONIC_URL")?,
            ),
            Mode::Embedded => {
                let (local, sim_url, ironic_url) = start_local(&setup, &fleet, &root, true).await?;
                let dir = local.dir.as_ref().map(|d| d.path().to_path_buf());
                let kubeconfig = dir.unwrap_or_default().join("kubeconfig");
                (
                    kubeconfig.clone(),
                    kubeconfig,
                    Some(local),
                    sim_url,
                    ironic_url,
                )
            }
            Mode::Real(state) => {
                let (local, sim_url, ironic_url) =
                    start_local(&setup, &fleet, &root, false).await?;
                (
                    state.admin_kubeconfig.clone(),
                    state.operator_kubeconfig.clone(),
                    Some(local),
                    sim_url,
                    ironic_url,
                )
            }
        };
        let client = client_for(&kubeconfig).await?;
        let sim = SimControl::new(&sim_url, http.clone());
        let served = eventually_ok(STARTUP, "the simulator's control API", || async {
            Ok(Check::Done(sim.hosts().await?))
        })
        .await?;
        let hosts = fleet.hosts(&served)?;
        let (image, images) = if local.is_some() {
            let server = ImageServer::start(&setup.name).await?;
            (server.image().clone(), Some(server))
        } else {
            // Loopback URLs as the simulator's fake agent (in the simulator's pod) sees them.
            let image = ImageRef {
                url: require_env("E2E_IMAGE_URL")?,
                checksum_url: require_env("E2E_IMAGE_CHECKSUM_URL")?,
            };
            (image, None)
        };
        let mut stack = Stack {
            image,
            _images: images,
            ironic: IronicApi::new(&ironic_url, http.clone()),
            setup,
            namespace,
            mode,
            kubeconfig,
            operator_kubeconfig,
            client,
            sim,
            fleet,
            hosts,
            local,
            http,
            started_at,
            finished: false,
        };
        stack.create_namespace().await?;
        if stack.local.is_some() {
            for i in 0..stack.setup.operators {
                stack.start_operator(i).await?;
            }
        }
        Ok(stack)
    }

    async fn create_namespace(&self) -> anyhow::Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let shared = !matches!(self.mode, Mode::Embedded);
        if shared && api.get_opt(&self.namespace).await?.is_some() {
            // A previous run on the same cluster: start clean.
            api.delete(&self.namespace, &DeleteParams::default())
                .await?;
            let ns = self.namespace.clone();
            eventually(
                Duration::from_secs(180),
                &format!("namespace {ns} from an earlier run to go"),
                || {
                    let api = api.clone();
                    let ns = ns.clone();
                    async move {
                        Ok(match api.get_opt(&ns).await? {
                            None => Check::Done(()),
                            Some(_) => Check::Pending("still there".into()),
                        })
                    }
                },
            )
            .await?;
        }
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": self.namespace, "labels": {"metal3.io/e2e": "true"}}
        }))?;
        api.create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {}", self.namespace))?;
        Ok(())
    }

    /// True when this stack started its own processes (not an external cluster).
    pub fn is_embedded(&self) -> bool {
        self.local.is_some()
    }

    /// The control plane this stack runs against.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Where the operators' leader-election Lease lives, and its name. On the real apiserver it is
    /// the operator's own namespace, where `kind/operator/rbac.yaml` lets it write Leases (one Lease
    /// name per test); elsewhere the test's namespace.
    pub fn lease(&self) -> (Api<Lease>, String) {
        match self.mode {
            Mode::Real(_) => (
                Api::namespaced(self.client.clone(), OPERATOR_NAMESPACE),
                format!("e2e-{}", self.setup.name),
            ),
            _ => (
                Api::namespaced(self.client.clone(), &self.namespace),
                "baremetal-operator".to_owned(),
            ),
        }
    }

    /// The test's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A client of the control plane.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The kubeconfig file (for kubectl).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The simulator's control API.
    pub fn sim(&self) -> &SimControl {
        &self.sim
    }

    /// The mock Ironic.
    pub fn ironic(&self) -> &IronicApi {
        &self.ironic
    }

    /// The Ironic node of host `name` (`status.provisioning.id`), once registered.
    pub async fn ironic_node(&self, name: &str) -> anyhow::Result<String> {
        let host = self.bmhs().get(name).await?;
        let id = host.status.map(|s| s.provisioning.id).unwrap_or_default();
        anyhow::ensure!(!id.is_empty(), "{name} has no Ironic node yet");
        Ok(id)
    }

    /// The requests the mock Ironic answered about `node` since this stack started (in kind mode the
    /// mock is shared, so other tests' requests are left out).
    pub async fn ironic_requests_for(
        &self,
        node: &str,
    ) -> anyhow::Result<Vec<crate::sim::Request>> {
        Ok(self
            .ironic
            .requests_since(self.started_at)
            .await?
            .into_iter()
            .filter(|r| r.is_for_node(node))
            .collect())
    }

    /// The fleet's hosts, in file order.
    pub fn hosts(&self) -> &[FleetHost] {
        &self.hosts
    }

    /// The fleet file.
    pub fn fleet(&self) -> &TestFleet {
        &self.fleet
    }

    /// One host of the fleet.
    pub fn host(&self, name: &str) -> anyhow::Result<&FleetHost> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .with_context(|| format!("no host {name} in {}", self.fleet.path.display()))
    }

    /// BareMetalHosts of the test's namespace.
    pub fn bmhs(&self) -> Api<BareMetalHost> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Any namespaced kind in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs kubectl against the stack (`-n` is the caller's choice); returns stdout, fails with stderr.
    pub async fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.kubectl_with_input(args, None).await
    }

    /// Runs kubectl with `input` on its stdin.
    pub async fn kubectl_with_input(
        &self,
        args: &[&str],
        input: Option<&str>,
    ) -> anyhow::Result<String> {
        Kubectl::new(&self.kubeconfig).run(args, input).await
    }

    /// The test passed: stop everything without the failure dump.
    pub async fn finish(mut self) {
        self.finished = true;
        if !matches!(self.mode, Mode::Embedded) {
            let api: Api<Namespace> = Api::all(self.client.clone());
            let _ = api.delete(&self.namespace, &DeleteParams::default()).await;
        }
    }

    fn dump(&mut self) {
        let ns = self.namespace.clone();
        eprintln!(
            "\n===== e2e failure dump: stack {} (namespace {ns}) =====",
            self.setup.name
        );
        let kubectl = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["--request-timeout=10s", "-n", &ns]);
            match Kubectl::new(&self.kubeconfig).run_blocking(&all) {
                Ok(out) => out,
                Err(e) => format!("{e:#}"),
            }
        };
        eprintln!(
            "--- kubectl get bmh -o wide\n{}",
            kubectl(&["get", "bmh", "-o", "wide"])
        );
        eprintln!(
            "--- host status\n{}",
            kubectl(&[
                "get",
                "bmh",
                "-o",
                "custom-columns=NAME:.metadata.name,STATE:.status.provisioning.state,POWERED:.status.poweredOn,\
                 OPSTATUS:.status.operationalStatus,ERROR:.status.errorType,MESSAGE:.status.errorMessage,\
                 FINALIZERS:.metadata.finalizers,DELETING:.metadata.deletionTimestamp",
            ])
        );
        eprintln!("--- kubectl get events\n{}", kubectl(&["get", "events"]));
        eprintln!(
            "--- machines (simulator control API)\n{}",
            machines_summary(self.sim.base())
        );
        if let Some(local) = self.local.as_mut() {
            let mut processes: Vec<&Process> = local.controlplane.iter().collect();
            processes.push(&local.sim);
            processes.extend(local.operators.iter());
            for p in processes {
                eprintln!("--- tail of {} log\n{}", p.name(), p.tail(40));
            }
            if let Some(dir) = local.dir.take() {
                eprintln!("--- full logs kept in {}", dir.keep().display());
            }
        }
        eprintln!("===== end of dump =====\n");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.finished || std::thread::panicking() {
            self.dump();
        }
    }
}

/// `GET /hosts` over a plain blocking socket (Drop cannot await), one line per machine.
fn machines_summary(base: &str) -> String {
    use std::io::{Read as _, Write as _};
    let Some(authority) = base.strip_prefix("http://") else {
        return format!("(cannot read {base})");
    };
    let result = (|| -> std::io::Result<String> {
        let addr: std::net::SocketAddr = authority
            .parse()
            .map_err(|e| std::io::Error::other(format!("{authority}: {e}")))?;
        let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET /hosts HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Ok(String::from_utf8_lossy(&raw).into_owned())
    })();
    let text = match result {
        Ok(t) => t,
        Err(e) => return format!("(control API unreachable: {e})"),
    };
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    match serde_json::from_str::<Vec<crate::sim::HostTruth>>(body) {
        Ok(hosts) => hosts
            .iter()
            .map(|h| {
                format!(
                    "{:<24} power {:<12} boots {} last boot {}",
                    h.name,
                    h.machine.power,
                    h.machine.boots(),
                    h.machine
                        .last_boot
                        .as_ref()
                        .map_or("-".to_owned(), |b| b.outcome.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("(unexpected /hosts answer: {e})"),
    }
}

fn check_kubectl() -> anyhow::Result<()> {
    let ok = Kubectl::new("")
        .run_blocking(&["version", "--client"])
        .is_ok();
    if !ok {
        bail!(
            "kubectl is not installed (the end-to-end suite drives the cluster with it as a user does)"
        );
    }
    Ok(())
}

/// Starts the test's own processes: the embedded control plane when `embedded_control_plane`, and
/// the simulator (fleet BMCs, fake agents, mock Ironic).
async fn start_local(
    setup: &Setup,
    fleet: &TestFleet,
    root: &Path,
    embedded_control_plane: bool,
) -> anyhow::Result<(Local, String, String)> {
    let bins = Binaries::locate()?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("metal-e2e-{}-", setup.name))
        .tempdir()
        .context("creating the stack's directory")?;
    let controlplane = if embedded_control_plane {
        Some(start_embedded_control_plane(&bins, dir.path(), root).await?)
    } else {
        None
    };

    let endpoints = dir.path().join("endpoints.json");
    let needs = fleet.needs(setup.operators)?;
    let mut last_error = None;
    // The mock Ironic on a free port, or the fleet's agents pointed at an external Ironic.
    let (ironic_flag, ironic_value) = match &setup.external_ironic {
        Some(url) => (OsStr::new("--ironic-url"), url.as_str()),
        None => (OsStr::new("--ironic"), "127.0.0.1:0"),
    };
    for attempt in 0..SERVE_ATTEMPTS {
        let subnet = Subnet::reserve(&setup.name, needs, attempt)?;
        let base = subnet.bmc_base().to_string();
        let mut sim = Process::spawn(
            "sim",
            &bins.sim,
            [
                OsStr::new("serve"),
                OsStr::new("--fleet"),
                fleet.path.as_os_str(),
                OsStr::new("--bind-base"),
                OsStr::new(&base),
                OsStr::new("--control"),
                OsStr::new("127.0.0.1:0"),
                ironic_flag,
                OsStr::new(ironic_value),
                OsStr::new("--endpoints"),
                endpoints.as_os_str(),
            ],
            &[],
            dir.path(),
        )?;
        match wait_for_file(&mut sim, &endpoints, |text| {
            let v: serde_json::Value = serde_json::from_str(text)?;
            let control = v["control"].as_str().context("no control URL")?.to_owned();
            let ironic = v["ironic"].as_str().context("no ironic URL")?.to_owned();
            Ok((control, ironic))
        })
        .await
        {
            Ok((control, ironic)) => {
                let local = Local {
                    dir: Some(dir),
                    bins,
                    subnet,
                    ironic_url: ironic.clone(),
                    controlplane,
                    sim,
                    operators: Vec::new(),
                    running: Vec::new(),
                };
                return Ok((local, control, ironic));
            }
            // Someone took an address between the probe and the bind: draw another subnet.
            Err(e) if format!("{e:#}").contains("cannot bind") => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the simulator did not start")))
}

/// `metal-sim controlplane` on a free loopback port, with the operator's CRDs; its kubeconfig is
/// `<dir>/kubeconfig`.
pub async fn start_embedded_control_plane(
    bins: &Binaries,
    dir: &Path,
    root: &Path,
) -> anyhow::Result<Process> {
    let kubeconfig = dir.join("kubeconfig");
    let crds = root.join("kind/crds/metal3.io.yaml");
    let pool_crds = root.join("kind/crds/hostpools.yaml");
    let mut controlplane = Process::spawn(
        "controlplane",
        &bins.sim,
        [
            OsStr::new("controlplane"),
            OsStr::new("--listen"),
            OsStr::new("127.0.0.1:0"),
            OsStr::new("--kubeconfig"),
            kubeconfig.as_os_str(),
            OsStr::new("--crds"),
            crds.as_os_str(),
            OsStr::new("--crds"),
            pool_crds.as_os_str(),
            OsStr::new("--seed"),
            OsStr::new("1"),
        ],
        &[],
        dir,
    )?;
    wait_for_file(&mut controlplane, &kubeconfig, |text| {
        Kubeconfig::from_yaml(text)
            .map(|_| ())
            .map_err(anyhow::Error::from)
    })
    .await?;
    Ok(controlplane)
}
