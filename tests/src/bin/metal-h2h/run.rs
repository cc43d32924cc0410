//! One run: a fresh namespace and a fresh `metal-sim serve` (clean mock Ironic) with N hosts, one
//! operator started, the hosts taken register → inspect → available → provisioned → available, each
//! phase bounded, then the operator's CPU, peak memory and request counts read and everything stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use metal_e2e::kubectl::kubectl;
use metal_testkit::bmo::{Bmo, BmoLaunch};
use metal_testkit::ports::free_port;
use serde::Serialize;

use crate::measure::{self, IronicCounter, States};
use metal_e2e::process::Process;
use metal_e2e::wait::{Check, eventually};

/// Which operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Operator {
    /// Upstream Metal3 baremetal-operator.
    Bmo,
    /// metal-operator.
    Ours,
}

impl Operator {
    pub fn label(self) -> &'static str {
        match self {
            Operator::Bmo => "BMO",
            Operator::Ours => "ours",
        }
    }
}

/// How an operator is set up for a row.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// `default` or `tuned`.
    pub name: String,
    /// Both operators' provisioning limit (BMO's `PROVISIONING_LIMIT`, our `--provisioning-limit`).
    pub provisioning_limit: usize,
    /// Reconciles at once (BMO's `BMO_CONCURRENCY`, our `--concurrency`); `None`: each one's default.
    pub concurrency: Option<u32>,
    /// Kubernetes client rate (BMO's `-kube-api-qps`/`-kube-api-burst`, our `--kube-qps`/`--kube-burst`).
    pub kube_qps: Option<(u32, u32)>,
    /// Our `--poll-first` (BMO has no such setting).
    pub poll_first: Option<String>,
}

/// Everything one run shares with the others.
pub struct Shared<'a> {
    pub bmo: &'a Bmo,
    pub sim: &'a Path,
    pub operator: &'a Path,
    pub admin: &'a Path,
    pub admin_client: kube::Client,
    pub bmo_kubeconfig: &'a Path,
    pub operator_kubeconfig: &'a Path,
    pub audit_log: PathBuf,
    pub files_base: String,
    pub image_url: String,
    pub image_sha256: String,
    pub http: reqwest::Client,
    pub ticks: f64,
    pub time_scale: f64,
    pub phase_timeout: Duration,
}

/// How one phase ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Phase {
    /// Every host reached the state after this many seconds.
    Done { seconds: f64 },
    /// The bound was hit with `reached` of `hosts` in the state.
    Timeout {
        seconds: f64,
        reached: usize,
        hosts: usize,
        states: String,
    },
    /// An earlier phase did not finish.
    NotRun,
}

impl Phase {
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Phase::Done { seconds } => Some(*seconds),
            _ => None,
        }
    }

    pub fn show(&self) -> String {
        match self {
            Phase::Done { seconds } => format!("{seconds:.1} s"),
            Phase::Timeout {
                seconds,
                reached,
                hosts,
                ..
            } => format!("> {seconds:.0} s ({reached}/{hosts})"),
            Phase::NotRun => "not run".to_owned(),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub operator: Operator,
    pub settings: Settings,
    pub hosts: usize,
    /// From the operator's start to every host `available`.
    pub to_available: Phase,
    /// From the start of the image patches to every host `provisioned`.
    pub to_provisioned: Phase,
    /// From the start of the image removals to every host `available` again.
    pub back_to_available: Phase,
    /// From the operator's start to the end of the last phase.
    pub total_seconds: f64,
    /// Seconds the driver spent patching (inside the two later phases; the same for both operators).
    pub patch_seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    pub ironic_requests: u64,
    pub agent_requests: u64,
    pub ironic_lost: u64,
    pub kube_requests: u64,
    /// Hosts with an `errorType` when the run ended.
    pub errored_hosts: usize,
    pub ironic_by_kind: Vec<(String, u64)>,
    pub kube_by_kind: Vec<(String, u64)>,
    /// 1-minute load average before and after the run.
    pub load: (f64, f64),
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn top(map: std::collections::BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// The fleet of a run: `hosts` small Redfish hosts behind one listener.
fn fleet_yaml(hosts: usize, port: u16, time_scale: f64) -> String {
    format!(
        "seed: 1\ntime_scale: {time_scale}\n\
         layout: {{mode: single-address, base: 127.0.61.1, redfish_port: {port}}}\n\
         groups:\n  - name: h2h-{{index:04}}\n    count: {hosts}\n    profile: small\n"
    )
}

pub async fn run(
    shared: &Shared<'_>,
    operator: Operator,
    settings: &Settings,
    hosts: usize,
    dir: &Path,
) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(dir)?;
    let load_before = load_average();
    let namespace = format!(
        "h2h-{}-{}-{hosts}",
        operator.label().to_lowercase(),
        settings.name
    );
    kubectl(shared.admin, &["create", "namespace", &namespace], None).await?;

    // A fresh simulator: BMCs, fake agents, a clean mock Ironic.
    let fleet = dir.join("fleet.yaml");
    let port = free_port();
    std::fs::write(&fleet, fleet_yaml(hosts, port, shared.time_scale))?;
    let endpoints = dir.join("endpoints.json");
    let args: Vec<String> = [
        "serve",
        "--fleet",
        &fleet.display().to_string(),
        "--ironic",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--endpoints",
        &endpoints.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut sim = measure::spawn(
        "metal-sim",
        shared.sim,
        &args,
        &[("RUST_LOG".into(), "warn".into())],
        dir,
    )?;
    let ironic = read_ironic_url(&mut sim, &endpoints).await?;

    // The hosts and their Secrets, created before the operator starts (the same for both).
    let manifests = std::process::Command::new(shared.sim)
        .args(["fleet", "manifests"])
        .arg(&fleet)
        .output()
        .context("metal-sim fleet manifests")?;
    anyhow::ensure!(
        manifests.status.success(),
        "metal-sim fleet manifests failed"
    );
    let yaml = String::from_utf8(manifests.stdout)?;
    create_all(&shared.admin_client, &namespace, &yaml).await?;

    let (states, watch) = States::watch(shared.admin_client.clone(), &namespace);
    let counter = IronicCounter::new(&ironic, shared.http.clone());
    let poller = counter.spawn();
    let audit_from = measure::audit_offset(&shared.audit_log);

    let mut child = start_operator(shared, operator, settings, &namespace, &ironic, dir)?;
    let started = Instant::now();
    let pid = child.pid().context("the operator has no pid")?;

    let mut patch_seconds = 0.0;
    let to_available = wait_all(
        &states,
        "available",
        hosts,
        shared.phase_timeout,
        &mut child,
    )
    .await?;
    let mut to_provisioned = Phase::NotRun;
    let mut back_to_available = Phase::NotRun;
    if matches!(to_available, Phase::Done { .. }) {
        let image = serde_json::json!({"spec": {"image": {
            "url": shared.image_url,
            "checksum": shared.image_sha256,
            "checksumType": "sha256",
            "format": "raw",
        }}});
        let phase = Instant::now();
        patch_all(shared, &namespace, &states, &image).await?;
        patch_seconds += phase.elapsed().as_secs_f64();
        to_provisioned = wait_from(
            phase,
            &states,
            "provisioned",
            hosts,
            shared.phase_timeout,
            &mut child,
        )
        .await?;
        if matches!(to_provisioned, Phase::Done { .. }) {
            let phase = Instant::now();
            patch_all(
                shared,
                &namespace,
                &states,
                &serde_json::json!({"spec": {"image": null}}),
            )
            .await?;
            patch_seconds += phase.elapsed().as_secs_f64();
            back_to_available = wait_from(
                phase,
                &states,
                "available",
                hosts,
                shared.phase_timeout,
                &mut child,
            )
            .await?;
        }
    }
    let total_seconds = started.elapsed().as_secs_f64();
    let usage = measure::usage_of(pid, shared.ticks).context("reading the operator's /proc")?;
    let errored_hosts = states.tally("").errored;
    let _ = child.kill().await;
    poller.abort();
    let _ = poller.await;
    let ironic_count = counter.drain().await?;
    watch.abort();
    let _ = sim.kill().await;
    let user = match operator {
        Operator::Bmo => "system:serviceaccount:metal3-system:baremetal-operator",
        Operator::Ours => "system:serviceaccount:metal3-system:metal-operator",
    };
    let (kube_requests, kube_by_kind) = measure::audit_count(&shared.audit_log, audit_from, user)?;
    Ok(Outcome {
        operator,
        settings: settings.clone(),
        hosts,
        to_available,
        to_provisioned,
        back_to_available,
        total_seconds,
        patch_seconds,
        cpu_seconds: usage.cpu_seconds,
        peak_rss_kib: usage.peak_rss_kib,
        ironic_requests: ironic_count.operator,
        agent_requests: ironic_count.agents,
        ironic_lost: ironic_count.lost,
        kube_requests,
        errored_hosts,
        ironic_by_kind: top(ironic_count.by_kind, 12),
        kube_by_kind: top(kube_by_kind, 12),
        load: (load_before, load_average()),
    })
}

async fn read_ironic_url(sim: &mut Process, endpoints: &Path) -> anyhow::Result<String> {
    eventually(
        Duration::from_secs(120),
        "metal-sim serve to write its endpoints file",
        || {
            let running = sim.check_running();
            let url = std::fs::read_to_string(endpoints)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|v| v.get("ironic").and_then(|u| u.as_str()).map(str::to_owned));
            let tail = sim.tail(5);
            async move {
                running?;
                Ok(match url {
                    Some(url) => Check::Done(url),
                    None => {
                        Check::Pending(format!("no endpoints file yet; its log ends with:\n{tail}"))
                    }
                })
            }
        },
    )
    .await
}

fn start_operator(
    shared: &Shared<'_>,
    operator: Operator,
    settings: &Settings,
    namespace: &str,
    ironic: &str,
    dir: &Path,
) -> anyhow::Result<Process> {
    let limit = settings.provisioning_limit.to_string();
    match operator {
        Operator::Bmo => {
            let launch = BmoLaunch {
                ironic_url: ironic.to_owned(),
                namespace: namespace.to_owned(),
                health: format!("127.0.0.1:{}", free_port()).parse()?,
                deploy_base: shared.files_base.clone(),
                work_dir: dir.to_path_buf(),
                kubeconfig: shared.bmo_kubeconfig.to_path_buf(),
                concurrency: settings.concurrency,
            };
            let mut args = launch.args();
            if let Some((qps, burst)) = settings.kube_qps {
                args.extend([
                    "-kube-api-qps".to_owned(),
                    qps.to_string(),
                    "-kube-api-burst".to_owned(),
                    burst.to_string(),
                ]);
            }
            let mut env = launch.env()?;
            env.push(("PROVISIONING_LIMIT".to_owned(), limit));
            measure::spawn("baremetal-operator", &shared.bmo.bin, &args, &env, dir)
        }
        Operator::Ours => {
            let base = &shared.files_base;
            let mut args: Vec<String> = vec![
                "run".into(),
                "--ironic-endpoint".into(),
                ironic.to_owned(),
                "--deploy-kernel-url".into(),
                format!("{base}/ipa.kernel"),
                "--deploy-ramdisk-url".into(),
                format!("{base}/ipa.initramfs"),
                "--deploy-iso-url".into(),
                format!("{base}/ipa.iso"),
                "--metrics-addr".into(),
                format!("127.0.0.1:{}", free_port()),
                "--health-addr".into(),
                format!("127.0.0.1:{}", free_port()),
                "--watch-namespace".into(),
                namespace.to_owned(),
                "--provisioning-limit".into(),
                limit,
            ];
            if let Some(n) = settings.concurrency {
                args.extend(["--concurrency".into(), n.to_string()]);
            }
            if let Some((qps, burst)) = settings.kube_qps {
                args.extend([
                    "--kube-qps".into(),
                    qps.to_string(),
                    "--kube-burst".into(),
                    burst.to_string(),
                ]);
            }
            if let Some(first) = &settings.poll_first {
                args.extend(["--poll-first".into(), first.clone()]);
            }
            let env = vec![(
                "KUBECONFIG".to_owned(),
                shared.operator_kubeconfig.display().to_string(),
            )];
            measure::spawn("metal-operator", shared.operator, &args, &env, dir)
        }
    }
}

/// Creates the Secrets, then the hosts, of a `metal-sim fleet manifests` stream in `namespace`
/// (32 at a time, as the admin; `kubectl create` takes minutes for 2 000 objects).
async fn create_all(client: &kube::Client, namespace: &str, yaml: &str) -> anyhow::Result<()> {
    use serde::Deserialize as _;
    let mut secrets = Vec::new();
    let mut hosts = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let mut object =
            DynamicObject::deserialize(doc).context("parsing the fleet's manifests")?;
        object.metadata.namespace = Some(namespace.to_owned());
        match object.types.as_ref().map(|t| t.kind.as_str()) {
            Some("Secret") => secrets.push(object),
            Some("BareMetalHost") => hosts.push(object),
            other => anyhow::bail!("unexpected manifest kind {other:?}"),
        }
    }
    let secret = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Secret"));
    let host = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "metal3.io",
        "v1alpha1",
        "BareMetalHost",
    ));
    for (objects, resource) in [(secrets, secret), (hosts, host)] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
        thirty_two_at_a_time(objects, |object| {
            let api = api.clone();
            async move {
                let name = object.metadata.name.clone().unwrap_or_default();
                api.create(&PostParams::default(), &object)
                    .await
                    .with_context(|| format!("creating {name}"))?;
                Ok(())
            }
        })
        .await?;
    }
    Ok(())
}

/// Merge-patches every host with `patch` (32 at a time, as the admin).
async fn patch_all(
    shared: &Shared<'_>,
    namespace: &str,
    states: &States,
    patch: &serde_json::Value,
) -> anyhow::Result<()> {
    let gvk = GroupVersionKind::gvk("metal3.io", "v1alpha1", "BareMetalHost");
    let api: Api<DynamicObject> = Api::namespaced_with(
        shared.admin_client.clone(),
        namespace,
        &ApiResource::from_gvk(&gvk),
    );
    thirty_two_at_a_time(states.names(), |name| {
        let api = api.clone();
        async move {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .with_context(|| format!("patching {name}"))?;
            Ok(())
        }
    })
    .await
}

/// Runs `call` on every item, 32 at a time (as a busy client would); the first error, if any.
async fn thirty_two_at_a_time<T, F, Fut>(items: Vec<T>, call: F) -> anyhow::Result<()>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(items)
        .map(call)
        .buffer_unordered(32)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn wait_all(
    states: &States,
    state: &str,
    hosts: usize,
    bound: Duration,
    child: &mut Process,
) -> anyhow::Result<Phase> {
    wait_from(Instant::now(), states, state, hosts, bound, child).await
}

/// Waits until all `hosts` are in `state` (checked on every change the watch delivers, and at
/// least every second for the operator's exit and the progress line), or `bound` after `since` has
/// passed.
async fn wait_from(
    since: Instant,
    states: &States,
    state: &str,
    hosts: usize,
    bound: Duration,
    child: &mut Process,
) -> anyhow::Result<Phase> {
    let mut last_print = Instant::now();
    loop {
        // Registered before the tally, so a change between the two wakes it.
        let changed = states.changed();
        child.check_running()?;
        let tally = states.tally(state);
        let seconds = since.elapsed().as_secs_f64();
        if tally.hosts == hosts && tally.in_state == hosts {
            return Ok(Phase::Done { seconds });
        }
        if since.elapsed() >= bound {
            return Ok(Phase::Timeout {
                seconds,
                reached: tally.in_state,
                hosts,
                states: format!("{:?}", tally.by_state),
            });
        }
        if last_print.elapsed() >= Duration::from_secs(30) {
            eprintln!(
                "    {seconds:.0} s: {}/{hosts} {state}; {:?}",
                tally.in_state, tally.by_state
            );
            last_print = Instant::now();
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), changed).await;
    }
}
