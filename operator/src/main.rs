//! `metal-operator run|crds`: parse the configuration, set up telemetry, run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args as ClapArgs, Parser, Subcommand};
use metal_operator::bmc::DeployImages;
use metal_operator::claim::HostPolicy;
use metal_operator::controller::claims::{self, ClaimRuntime, ClaimSettings};
use metal_operator::controller::election::{self, ElectionSettings, Leadership, LeaseLock};
use metal_operator::controller::throttle::{ThrottleLayer, ThrottleSettings};
use metal_operator::controller::{self, Clock, ControllerSettings, HostCache, Runtime};
use metal_operator::ironic_http::{ClientConfig, HttpIronicClient};
use metal_operator::provisioner::Credentials;
use metal_operator::provisioner::ironic::{IronicClient, IronicProvisioner, IronicSettings};
use metal_operator::telemetry::{LogFormat, Metrics, ProbeState, Readiness, logging, probe};
use metal_operator::webhook::{
    self, CertificateSource, WebhookSettings, WebhookState, serving_names,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

#[derive(Parser, Debug)]
#[command(
    name = "metal-operator",
    version,
    about = "Metal3-compatible BareMetalHost operator driving OpenStack Ironic"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller.
    Run(Box<Args>),
    /// Print every CRD (BareMetalHost, HardwareData, HostClaim) as a YAML stream.
    Crds {
        /// Print our own group's CRDs (HostPool, metal-operator.io) instead of the Metal3 ones.
        #[arg(long)]
        pools: bool,
    },
}

/// Every setting of `run`, with its environment fallback and default.
#[derive(ClapArgs, Debug)]
struct Args {
    /// Ironic API endpoint.
    #[arg(long, env = "IRONIC_ENDPOINT", default_value = "http://localhost:6385")]
    ironic_endpoint: String,
    /// PEM file with the CA that signs Ironic's certificate (default: system roots).
    #[arg(long, env = "IRONIC_CACERT_FILE")]
    ironic_cacert_file: Option<PathBuf>,
    /// Skip verification of Ironic's TLS certificate (testing only).
    #[arg(long, env = "IRONIC_INSECURE", default_value_t = false)]
    ironic_insecure: bool,
    /// File holding the username for HTTP basic auth to Ironic.
    #[arg(long, env = "IRONIC_USERNAME_FILE")]
    ironic_username_file: Option<PathBuf>,
    /// File holding the password for HTTP basic auth to Ironic (never pass it on the command line).
    #[arg(long, env = "IRONIC_PASSWORD_FILE")]
    ironic_password_file: Option<PathBuf>,
    /// URL of the deploy ramdisk's kernel.
    #[arg(long, env = "DEPLOY_KERNEL_URL")]
    deploy_kernel_url: Option<String>,
    /// URL of the deploy ramdisk.
    #[arg(long, env = "DEPLOY_RAMDISK_URL")]
    deploy_ramdisk_url: Option<String>,
    /// URL of the deploy ISO (virtual-media boot).
    #[arg(long, env = "DEPLOY_ISO_URL")]
    deploy_iso_url: Option<String>,
    /// Hosts allowed to inspect, provision or deprovision at once (virtual media exempt).
    #[arg(long, env = "PROVISIONING_LIMIT", default_value_t = 20)]
    provisioning_limit: u32,
    /// Provisioning attempts per image before giving up (0 = no limit).
    #[arg(long, env = "MAX_PROVISIONING_RETRIES", default_value_t = 5)]
    max_provisioning_retries: i64,
    /// How often Ironic is polled (durations such as `3s`, `250ms`; upstream's defaults).
    #[command(flatten)]
    poll: PollArgs,
    /// Hosts reconciled at once (default: CPUs clamped to 2..=8, as upstream).
    #[arg(long, env = "BMO_CONCURRENCY")]
    concurrency: Option<u16>,
    /// Kubernetes API requests per second (0 = unlimited). Events are sent by a client of
    /// their own with the same rate and burst, as client-go's event broadcaster is.
    #[arg(long, env = "KUBE_API_QPS", default_value_t = 20.0)]
    kube_qps: f32,
    /// Kubernetes API burst above the QPS rate.
    #[arg(long, env = "KUBE_API_BURST", default_value_t = 30)]
    kube_burst: u32,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:8080")]
    metrics_addr: SocketAddr,
    /// Address of the `/healthz` and `/readyz` probes.
    #[arg(long, env = "HEALTH_ADDR", default_value = "127.0.0.1:9440")]
    health_addr: SocketAddr,
    /// Act only while holding a coordination.k8s.io Lease.
    #[arg(long, env = "LEADER_ELECT", default_value_t = false)]
    leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "baremetal-operator")]
    lease_name: String,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Identity written into the Lease (default: $HOSTNAME, else a random id).
    #[arg(long, env = "POD_NAME")]
    lease_identity: Option<String>,
    /// Seconds a Lease stays valid after its last renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds after which a leader that cannot renew stops acting.
    #[arg(long, default_value_t = 10)]
    lease_renew_deadline_seconds: u64,
    /// Seconds between Lease attempts.
    #[arg(long, default_value_t = 2)]
    lease_retry_period_seconds: u64,
    /// Log line format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log_filter: String,
    /// Seed of the per-host random streams (backoff jitter).
    #[arg(long, env = "METAL_SEED", default_value_t = 0)]
    seed: u64,
    /// Do not run the HostClaim and HostPool controllers.
    #[arg(long, env = "DISABLE_HOST_CLAIMS", default_value_t = false)]
    disable_host_claims: bool,
    /// Host namespaces whose hosts claims from any namespace may take (repeat or comma-separate).
    #[arg(long, env = "CLAIM_HOST_NAMESPACES", value_delimiter = ',')]
    claim_host_namespace: Vec<String>,
    /// Serve the validating admission webhook (HTTPS) here, e.g. 127.0.0.1:9443 (default: not
    /// served).
    #[arg(long, env = "WEBHOOK_ADDR")]
    webhook_addr: Option<SocketAddr>,
    /// Directory with the webhook's tls.crt and tls.key (and ca.crt, if the CA is to be written
    /// or patched) (default: generate a CA and a certificate at every start).
    #[arg(long, env = "WEBHOOK_CERT_DIR")]
    webhook_cert_dir: Option<PathBuf>,
    /// ValidatingWebhookConfiguration whose webhooks get the webhook's CA as caBundle at start.
    #[arg(long, env = "WEBHOOK_CONFIGURATION")]
    webhook_configuration: Option<String>,
    /// Write the webhook's CA (PEM) to this file.
    #[arg(long, env = "WEBHOOK_CA_FILE")]
    webhook_ca_file: Option<PathBuf>,
    /// Service in front of the webhook: its in-cluster DNS names in the pod's namespace
    /// (POD_NAMESPACE) join the generated certificate.
    #[arg(long, env = "WEBHOOK_SERVICE")]
    webhook_service: Option<String>,
    /// Extra DNS name or IP address of the generated certificate, besides 127.0.0.1 and
    /// localhost (repeat or comma-separate).
    #[arg(long, env = "WEBHOOK_DNS_NAMES", value_delimiter = ',')]
    webhook_dns_name: Vec<String>,
}

struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

fn read_secret_file(path: &PathBuf) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { pools } => {
            if pools {
                print!("{}", metal_operator::api::pool_crds_yaml());
            } else {
                print!("{}", metal_operator::api::crds_yaml());
            }
            Ok(())
        }
        Command::Run(args) => {
            logging::init(args.log_format, &args.log_filter)?;
            tokio::runtime::Runtime::new()
                .context("starting the tokio runtime")?
                .block_on(run(*args))
        }
    }
}

/// The poll and retry intervals of the host state machine (`statemachine::Settings`): production
/// defaults are upstream's; testbeds shorten them. Zero is refused, naming the flag.
#[derive(clap::Args, Debug)]
struct PollArgs {
    /// Poll interval for quick Ironic operations (registration, power, adoption).
    #[arg(long, env = "METAL_POLL_SHORT", default_value = "3s", value_parser = duration)]
    poll_short: Duration,
    /// Poll interval for operations that boot a ramdisk (inspection, cleaning, deploy), plus 0–25 % jitter.
    #[arg(long, env = "METAL_POLL_LONG", default_value = "10s", value_parser = duration)]
    poll_long: Duration,
    /// Power-state check in steady states (available, provisioned).
    #[arg(long, env = "METAL_POLL_STEADY", default_value = "60s", value_parser = duration)]
    poll_steady: Duration,
    /// Check of unmanaged and detached hosts.
    #[arg(long, env = "METAL_POLL_SLOW", default_value = "10m", value_parser = duration)]
    poll_slow: Duration,
    /// Retry after a missing BMC Secret.
    #[arg(long, env = "METAL_MISSING_SECRET_RETRY", default_value = "10s", value_parser = duration)]
    missing_secret_retry: Duration,
    /// Unit of the error backoff: the n-th error is retried after 2^n units minus up to half.
    #[arg(long, env = "METAL_ERROR_BACKOFF_UNIT", default_value = "1m", value_parser = duration)]
    error_backoff_unit: Duration,
    /// First poll of a change in progress, doubling while nothing changes up to the intervals above
    /// (unset: poll at those intervals from the start, as upstream).
    #[arg(long, env = "METAL_POLL_FIRST", value_parser = duration)]
    poll_first: Option<Duration>,
}

impl PollArgs {
    fn settings(
        &self,
        max_provisioning_retries: i64,
    ) -> anyhow::Result<metal_operator::statemachine::Settings> {
        let settings = metal_operator::statemachine::Settings {
            max_provisioning_retries,
            short_delay: self.poll_short,
            long_delay: self.poll_long,
            steady_delay: self.poll_steady,
            slow_delay: self.poll_slow,
            missing_secret_delay: self.missing_secret_retry,
            first_poll: self.poll_first,
            error_backoff_unit: self.error_backoff_unit,
            ..Default::default()
        };
        settings.validate()?;
        Ok(settings)
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    metal_core::duration::parse_duration(text).map_err(|e| e.to_string())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        ironic_endpoint,
        ironic_cacert_file,
        ironic_insecure,
        ironic_username_file,
        ironic_password_file,
        deploy_kernel_url,
        deploy_ramdisk_url,
        deploy_iso_url,
        provisioning_limit,
        max_provisioning_retries,
        poll,
        concurrency,
        kube_qps,
        kube_burst,
        watch_namespace,
        metrics_addr,
        health_addr,
        leader_elect,
        lease_name,
        lease_namespace,
        lease_identity,
        lease_duration_seconds,
        lease_renew_deadline_seconds,
        lease_retry_period_seconds,
        log_format: _,
        log_filter: _,
        seed,
        disable_host_claims,
        claim_host_namespace,
        webhook_addr,
        webhook_cert_dir,
        webhook_configuration,
        webhook_ca_file,
        webhook_service,
        webhook_dns_name,
    } = args;
    let machine = poll.settings(max_provisioning_retries)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    if leader_elect {
        anyhow::ensure!(
            0 < lease_retry_period_seconds
                && lease_retry_period_seconds < lease_renew_deadline_seconds
                && lease_renew_deadline_seconds < lease_duration_seconds,
            "lease timings must satisfy 0 < retry period ({lease_retry_period_seconds}s) < renew deadline \
             ({lease_renew_deadline_seconds}s) < lease duration ({lease_duration_seconds}s)"
        );
    }
    info!(
        seed,
        ironic_endpoint = %metal_operator::ironic_http::endpoint_for_logs(&ironic_endpoint),
        watch_namespace = watch_namespace.as_deref().unwrap_or("<all>"),
        provisioning_limit,
        leader_elect,
        "metal-operator starting"
    );

    let webhook = match webhook_addr {
        Some(addr) => {
            let certificate = match webhook_cert_dir {
                Some(dir) => {
                    if webhook_service.is_some() || !webhook_dns_name.is_empty() {
                        tracing::warn!(
                            "--webhook-service and --webhook-dns-name name generated certificates; \
                             the one in --webhook-cert-dir is used as it is"
                        );
                    }
                    CertificateSource::Directory(dir)
                }
                None => CertificateSource::Generate {
                    names: serving_names(
                        webhook_service.as_deref(),
                        &lease_namespace,
                        &webhook_dns_name,
                    ),
                },
            };
            let settings = WebhookSettings {
                certificate,
                configuration: webhook_configuration,
                ca_file: webhook_ca_file,
            };
            Some((addr, settings))
        }
        None => {
            anyhow::ensure!(
                webhook_cert_dir.is_none()
                    && webhook_configuration.is_none()
                    && webhook_ca_file.is_none(),
                "--webhook-cert-dir, --webhook-configuration and --webhook-ca-file need --webhook-addr"
            );
            None
        }
    };

    let basic_auth = match (ironic_username_file, ironic_password_file) {
        (Some(u), Some(p)) => Some(Credentials {
            username: read_secret_file(&u)?,
            password: read_secret_file(&p)?,
        }),
        (None, None) => None,
        _ => anyhow::bail!(
            "Ironic basic auth needs both --ironic-username-file and --ironic-password-file"
        ),
    };
    let ca_pem = ironic_cacert_file
        .map(|p| std::fs::read(&p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let mut ironic = ClientConfig::new(ironic_endpoint);
    ironic.ca_pem = ca_pem;
    ironic.basic_auth = basic_auth;
    ironic.insecure = ironic_insecure;
    let client = Arc::new(IronicClient::new(ironic).context("building the Ironic client")?);
    let deploy_images = DeployImages {
        kernel_url: deploy_kernel_url,
        ramdisk_url: deploy_ramdisk_url,
        iso_url: deploy_iso_url,
    };
    let provisioner = Arc::new(IronicProvisioner::new(
        client,
        IronicSettings { deploy_images },
    ));

    let kube_config = kube::Config::infer()
        .await
        .context("loading the Kubernetes client configuration")?;
    let throttle = ThrottleLayer(ThrottleSettings {
        qps: kube_qps,
        burst: kube_burst,
    });
    let kube_client = kube::client::ClientBuilder::try_from(kube_config.clone())
        .context("building the Kubernetes client")?
        .with_layer(&throttle)
        .build();
    // Events get a client with a budget of their own (same QPS and burst), as client-go's
    // event broadcaster has one: Events never delay the writes that move hosts on.
    let events_client = kube::client::ClientBuilder::try_from(kube_config)
        .context("building the Kubernetes client for Events")?
        .with_layer(&throttle)
        .build();

    let metrics = Metrics::new();
    let readiness = Readiness::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let router = probe::app(ProbeState {
        metrics: metrics.clone(),
        readiness: readiness.clone(),
    });
    let mut servers = vec![tokio::spawn(probe::serve(
        bind(metrics_addr).await?,
        router.clone(),
        stopped(),
    ))];
    if health_addr != metrics_addr {
        servers.push(tokio::spawn(probe::serve(
            bind(health_addr).await?,
            router,
            stopped(),
        )));
    }

    if let Some((addr, settings)) = webhook {
        let listener = bind(addr)
            .await?
            .into_std()
            .context("preparing the webhook listener")?;
        let state = WebhookState {
            metrics: metrics.clone(),
        };
        let serving = webhook::start(
            settings,
            listener,
            state,
            kube_client.clone(),
            readiness.clone(),
            stopped(),
        )
        .await
        .context("starting the admission webhook")?;
        servers.push(serving.task);
    }

    let identity = lease_identity
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("metal-operator-{}", uuid::Uuid::new_v4()));
    let leadership = if leader_elect {
        let settings = ElectionSettings {
            lease_name,
            lease_namespace,
            identity: identity.clone(),
            lease_duration: Duration::from_secs(lease_duration_seconds),
            renew_deadline: Duration::from_secs(lease_renew_deadline_seconds),
            retry_period: Duration::from_secs(lease_retry_period_seconds),
        };
        let (tx, leadership) = Leadership::channel();
        servers.push(tokio::spawn({
            let lock = LeaseLock::new(kube_client.clone(), settings);
            let stop = stopped();
            async move {
                election::run(lock, WallClock, tx, stop).await;
                Ok::<(), std::io::Error>(())
            }
        }));
        leadership
    } else {
        Leadership::always()
    };

    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let settings = ControllerSettings {
        watch_namespace,
        concurrency: concurrency.unwrap_or_else(|| u16::try_from(cpus.clamp(2, 8)).unwrap_or(2)),
        provisioning_limit,
        seed,
        instance: Some(identity),
    };
    // One watch and one cache of the hosts, shared by the host, claim and pool controllers.
    let hosts = HostCache::start(&kube_client, settings.watch_namespace.as_deref());
    let claim_runtime = ClaimRuntime {
        clock: Arc::new(WallClock),
        settings: ClaimSettings {
            watch_namespace: settings.watch_namespace.clone(),
            policy: HostPolicy {
                shared_namespaces: claim_host_namespace.into_iter().collect(),
            },
            seed,
            instance: settings.instance.clone(),
            ..ClaimSettings::default()
        },
        leadership: leadership.clone(),
        hosts: hosts.clone(),
    };
    let runtime = Runtime {
        provisioner,
        metrics,
        readiness,
        clock: Arc::new(WallClock),
        settings,
        machine,
        leadership,
        events: Some(events_client),
        hosts,
    };
    let shutdown = async {
        shutdown_signal().await;
        info!("shutdown requested");
    };
    let claims = (!disable_host_claims)
        .then(|| tokio::spawn(claims::run(kube_client.clone(), claim_runtime, stopped())));
    let result = controller::run(kube_client, runtime, shutdown).await;
    stop_tx.send_replace(true);
    if let Some(claims) = claims {
        match tokio::time::timeout(Duration::from_secs(5), claims).await {
            Ok(Ok(Err(error))) => tracing::warn!(error = %error, "claim controllers stopped"),
            Ok(Err(error)) => tracing::warn!(error = %error, "claim controllers failed"),
            _ => {}
        }
    }
    for server in servers {
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    }
    result.context("controller stopped")
}

/// SIGINT or SIGTERM (what Kubernetes sends when it stops a pod).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
