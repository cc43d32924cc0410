//! What a wire run starts, all on loopback: the embedded control plane with the operator's CRDs,
//! the fleet's BMCs with the mock Ironic (`serve::start`), and the operator — ours (its BMH
//! controller and its claim/pool controllers) as a task in this process that a restart aborts and
//! spawns again, or an operator process ([`super::operator`]) that a restart kills and starts again.
//!
//! It is also the in-process stack for tests of one's own: [`StackOptions`] (namespace, seed,
//! mock or external Ironic, the operator's limits) and a [`Fleet`], then [`Stack::start`]; create
//! BareMetalHosts through [`Stack::client`] and watch them go (`wire/tests/stack_builder.rs`).
//! It lives here, not in `metal-testkit`, because it runs the operator, and the testkit sits below
//! the operator (whose own tests use it).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, DynamicObject, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use metal_operator::bmc::DeployImages;
use metal_operator::claim::HostPolicy;
use metal_operator::controller::claims::{self, ClaimRuntime, ClaimSettings};
use metal_operator::controller::{self, ControllerSettings, HostCache, Leadership, Runtime};
use metal_operator::ironic_http::{ClientConfig, HttpIronicClient};
use metal_operator::provisioner::ironic::{IronicClient, IronicProvisioner, IronicSettings};
use metal_operator::telemetry::{Metrics, Readiness};
use tokio::task::JoinHandle;

use super::WireError;
use super::operator::{Contract, CrdSet, OperatorChoice, OperatorProcess};
use metal_scenario::Scenario;
use metal_scenario::format::{IronicChoice, OperatorSettings};
use metal_sim::controlplane;
use metal_sim::fleet::Fleet;
use metal_sim::ironic::conductor::Settings as ConductorSettings;
use metal_sim::machine::{SimClock, World};
use metal_sim::serve::{self, ServeOptions};

/// The wall clock, handed in by `main` (library code does not read it on its own).
pub type UtcClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

struct OperatorClock(UtcClock);

impl controller::Clock for OperatorClock {
    fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

/// Everything a run needs to build the operator again after a restart.
#[derive(Clone)]
struct OperatorConfig {
    ironic_url: String,
    namespace: String,
    provisioning_limit: u32,
    max_provisioning_retries: i64,
    seed: u64,
    /// The fleet's time scale and size, which the operator's poll intervals follow.
    time_scale: f64,
    hosts: usize,
    clock: UtcClock,
    /// Which operator, and what an operator process is told.
    choice: OperatorChoice,
    contract: Contract,
}

/// The operator while it runs.
enum Running {
    Stopped,
    Task(JoinHandle<()>),
    Process(Box<OperatorProcess>),
}

/// The running pieces of a wire run.
pub struct Stack {
    /// The embedded control plane.
    pub controlplane: controlplane::Running,
    /// The fleet's servers (BMCs, mock Ironic, agents, control API).
    pub fleet: serve::Running,
    /// A client of the control plane.
    pub client: kube::Client,
    /// Base URL of the Ironic the operator uses.
    pub ironic_url: String,
    /// Whether that Ironic is the mock (whose request journal can be read).
    pub mock_ironic: bool,
    /// Whether the control plane serves HostClaims (ours and upstream's CRDs do).
    pub claims: bool,
    /// Whether it serves HostPools (only with our CRDs).
    pub pools: bool,
    operator: Running,
    config: OperatorConfig,
}

/// The BareMetalHost resource, for dynamic API calls.
pub fn bmh_resource() -> ApiResource {
    ApiResource::erase::<metal_operator::api::BareMetalHost>(&())
}

/// The HostClaim resource.
pub fn claim_resource() -> ApiResource {
    ApiResource::erase::<metal_operator::api::HostClaim>(&())
}

/// The HostPool resource.
pub fn pool_resource() -> ApiResource {
    ApiResource::erase::<metal_operator::api::HostPool>(&())
}

/// A core/v1 resource by kind and plural.
pub fn core_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", kind), plural)
}

/// What [`Stack::start`] starts: one namespace watched by the operator, a seed for everything
/// seeded, the Ironic the operator uses, and the operator's limits.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The namespace created and watched (the operator's `WATCH_NAMESPACE`).
    pub namespace: String,
    /// Seed of the control plane, the mock Ironic and the operator's jitter.
    pub seed: u64,
    /// metal-sim's mock Ironic, or a real Ironic at a URL.
    pub ironic: IronicChoice,
    /// The mock Ironic's conductor settings (timings, callback timeout); `None`: the defaults for
    /// the fleet's time scale (`ConductorSettings::for_fleet`).
    pub ironic_settings: Option<ConductorSettings>,
    /// Hosts allowed to inspect, provision or deprovision at once.
    pub provisioning_limit: u32,
    /// Provisioning attempts per image before giving up (0 = no limit).
    pub max_provisioning_retries: i64,
    /// The operator: ours in this process (the default), BMO or a command.
    pub operator: OperatorChoice,
    /// The CRDs served; `None`: the operator's ([`OperatorChoice::default_crds`]).
    pub crds: Option<CrdSet>,
}

impl StackOptions {
    /// The defaults a scenario without `operator:` or `ironic:` gets, in `namespace`.
    pub fn new(namespace: impl Into<String>) -> Self {
        let operator = OperatorSettings::default();
        StackOptions {
            namespace: namespace.into(),
            seed: 1,
            ironic: IronicChoice::Mock,
            ironic_settings: None,
            provisioning_limit: operator.provisioning_limit,
            max_provisioning_retries: operator.max_provisioning_retries,
            operator: OperatorChoice::Ours,
            crds: None,
        }
    }

    /// The options `scenario` asks for.
    pub fn for_scenario(scenario: &Scenario) -> Self {
        StackOptions {
            namespace: scenario.namespace().to_string(),
            seed: scenario.seed(),
            ironic: scenario.file.ironic.clone(),
            ironic_settings: Some(super::switches::mock_ironic_settings(scenario)),
            provisioning_limit: scenario.file.operator.provisioning_limit,
            max_provisioning_retries: scenario.file.operator.max_provisioning_retries,
            operator: OperatorChoice::Ours,
            crds: None,
        }
    }
}

impl Stack {
    /// Starts the control plane, `fleet` and the operator on loopback. `clock` is the fleet's
    /// simulated clock, `utc` the wall clock the control plane and our operator read; `work_dir`
    /// receives the CRD file the control plane loads and, for an operator process, its
    /// kubeconfig and `operator.log`.
    pub async fn start(
        options: &StackOptions,
        fleet: &Fleet,
        clock: SimClock,
        utc: UtcClock,
        work_dir: &Path,
    ) -> Result<Stack, WireError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let cp_clock: controlplane::Clock = {
            let utc = Arc::clone(&utc);
            Arc::new(move || utc())
        };
        let cp = controlplane::start(controlplane::Options::new(loopback, cp_clock, options.seed))
            .await
            .map_err(|e| WireError::Start(format!("control plane: {e}")))?;
        let crds = options
            .crds
            .clone()
            .unwrap_or_else(|| options.operator.default_crds());
        for file in crds.files(work_dir)? {
            cp.state.load_crds(&file).map_err(|e| {
                WireError::Start(format!("loading CRDs from {}: {e}", file.display()))
            })?;
        }
        let kubeconfig_path = work_dir.join("operator.kubeconfig");
        // Private (mode 0600 from creation): it carries the control plane's bearer token.
        cp.write_kubeconfig(&kubeconfig_path)
            .map_err(|e| WireError::Output {
                path: kubeconfig_path.display().to_string(),
                message: e.to_string(),
            })?;
        let kubeconfig = Kubeconfig::from_yaml(&cp.kubeconfig())
            .map_err(|e| WireError::Start(format!("kubeconfig: {e}")))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| WireError::Start(format!("kubeconfig: {e}")))?;
        let client = kube::Client::try_from(config)
            .map_err(|e| WireError::Start(format!("Kubernetes client: {e}")))?;
        let namespace = options.namespace.clone();
        let ns_api: Api<DynamicObject> =
            Api::all_with(client.clone(), &core_resource("Namespace", "namespaces"));
        let ns: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}
        }))
        .map_err(|e| WireError::Start(e.to_string()))?;
        ns_api
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| WireError::Start(format!("creating namespace {namespace}: {e}")))?;

        let world: Arc<World> = Arc::new(
            fleet
                .build_world(clock)
                .map_err(|e| WireError::Start(e.to_string()))?,
        );
        let (ironic, ironic_url) = match &options.ironic {
            IronicChoice::Mock => (Some(loopback), None),
            IronicChoice::External(url) => (None, Some(url.clone())),
        };
        let mut paced = ServeOptions::of_fleet(fleet);
        if let Some(settings) = options.ironic_settings {
            paced.ironic_settings = settings;
        }
        let running = serve::start(
            world,
            ServeOptions {
                control: loopback,
                ironic,
                ironic_seed: options.seed,
                ironic_url,
                ..paced
            },
        )
        .await
        .map_err(|e| WireError::Start(format!("fleet: {e}")))?;
        let ironic_url = running
            .endpoints()
            .ironic
            .clone()
            .ok_or_else(|| WireError::Start("no Ironic endpoint".into()))?;
        let contract = Contract {
            kubeconfig: kubeconfig_path,
            ironic_url: ironic_url.clone(),
            namespace: namespace.clone(),
            deploy_base: "http://127.0.0.1".into(),
            provisioning_limit: options.provisioning_limit,
            work_dir: work_dir.to_path_buf(),
        };
        let config = OperatorConfig {
            ironic_url: ironic_url.clone(),
            namespace,
            provisioning_limit: options.provisioning_limit,
            max_provisioning_retries: options.max_provisioning_retries,
            seed: options.seed,
            time_scale: fleet.file.time_scale,
            hosts: fleet.hosts().len(),
            clock: utc,
            choice: options.operator.clone(),
            contract,
        };
        let claims = served(&client, &config.namespace, &claim_resource()).await;
        let pools = served(&client, &config.namespace, &pool_resource()).await;
        let mut stack = Stack {
            controlplane: cp,
            fleet: running,
            client,
            mock_ironic: matches!(options.ironic, IronicChoice::Mock),
            claims,
            pools,
            ironic_url,
            operator: Running::Stopped,
            config,
        };
        if let Err(e) = stack.start_operator().await {
            stack.shutdown().await;
            return Err(e);
        }
        Ok(stack)
    }

    /// The fleet's world (machines, faults, clock).
    pub fn world(&self) -> &Arc<World> {
        self.fleet.world()
    }

    /// The fleet's control API address (its live view is `/ui` there).
    pub fn control(&self) -> std::net::SocketAddr {
        self.fleet.control()
    }

    /// Which operator runs.
    pub fn operator(&self) -> &OperatorChoice {
        &self.config.choice
    }

    /// Starts the operator: ours (its BMH controller and its claim and pool controllers) as one
    /// task, or the operator process.
    pub async fn start_operator(&mut self) -> Result<(), WireError> {
        if self.config.choice != OperatorChoice::Ours {
            let process =
                OperatorProcess::start(&self.config.choice, &self.config.contract).await?;
            self.operator = Running::Process(Box::new(process));
            return Ok(());
        }
        let c = &self.config;
        let mut ironic = ClientConfig::new(c.ironic_url.clone());
        ironic.timeout = Duration::from_secs(30);
        let ironic = Arc::new(
            IronicClient::new(ironic)
                .map_err(|e| WireError::Start(format!("Ironic client: {e}")))?,
        );
        let provisioner = Arc::new(IronicProvisioner::new(
            ironic,
            IronicSettings {
                deploy_images: DeployImages {
                    kernel_url: Some("http://127.0.0.1/ipa.kernel".into()),
                    ramdisk_url: Some("http://127.0.0.1/ipa.initramfs".into()),
                    iso_url: Some("http://127.0.0.1/ipa.iso".into()),
                },
            },
        ));
        let clock: Arc<dyn controller::Clock> = Arc::new(OperatorClock(Arc::clone(&c.clock)));
        let settings = ControllerSettings {
            watch_namespace: Some(c.namespace.clone()),
            concurrency: 4,
            provisioning_limit: c.provisioning_limit,
            seed: c.seed,
            instance: Some("metal-sim-run".into()),
        };
        let hosts = HostCache::start(&self.client, settings.watch_namespace.as_deref());
        let claim_runtime = ClaimRuntime {
            clock: Arc::clone(&clock),
            settings: ClaimSettings {
                watch_namespace: settings.watch_namespace.clone(),
                policy: HostPolicy::default(),
                seed: c.seed,
                instance: settings.instance.clone(),
                ..ClaimSettings::default()
            },
            leadership: Leadership::always(),
            hosts: hosts.clone(),
        };
        let runtime = Runtime {
            provisioner,
            metrics: Metrics::new(),
            readiness: Readiness::default(),
            clock,
            settings,
            machine: metal_operator::statemachine::Settings {
                max_provisioning_retries: c.max_provisioning_retries,
                ..Default::default()
            }
            .for_fleet(c.time_scale, c.hosts),
            leadership: Leadership::always(),
            events: None,
            hosts,
        };
        let client = self.client.clone();
        let handle = tokio::spawn(async move {
            let hosts = controller::run(client.clone(), runtime, std::future::pending());
            let claims = claims::run(client, claim_runtime, std::future::pending());
            let (h, c) = tokio::join!(hosts, claims);
            if let Err(e) = h {
                tracing::error!(error = %e, "operator host controller stopped");
            }
            if let Err(e) = c {
                tracing::error!(error = %e, "operator claim controllers stopped");
            }
        });
        self.operator = Running::Task(handle);
        Ok(())
    }

    /// `Some(what happened, with its log's tail)` when the operator process has exited while
    /// it should be running.
    pub fn operator_exited(&mut self) -> Option<String> {
        match &mut self.operator {
            Running::Process(p) => p.exited(),
            _ => None,
        }
    }

    /// Kills the operator task or process (as a crash would: no clean shutdown).
    pub async fn stop_operator(&mut self) {
        match std::mem::replace(&mut self.operator, Running::Stopped) {
            Running::Stopped => {}
            Running::Task(handle) => {
                handle.abort();
                let _ = handle.await;
            }
            Running::Process(p) => p.kill().await,
        }
    }

    /// Stops everything.
    pub async fn shutdown(mut self) {
        self.stop_operator().await;
        if let Err(e) = self.fleet.shutdown().await {
            tracing::warn!(error = %e, "fleet did not stop cleanly");
        }
        if let Err(e) = self.controlplane.shutdown().await {
            tracing::warn!(error = %e, "control plane did not stop cleanly");
        }
    }
}

/// Whether the control plane serves `resource` (a list in `namespace` answers).
async fn served(client: &kube::Client, namespace: &str, resource: &ApiResource) -> bool {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    api.list(&kube::api::ListParams::default().limit(1))
        .await
        .is_ok()
}
