//! The operator a wire run drives (`metal-sim run --operator`): ours, in this process; or an
//! operator process — upstream Metal3 baremetal-operator as `make bmo` built it
//! (`metal_testkit::bmo` holds its flags and environment), or any command.
//!
//! The contract an operator process gets, in its environment (docs/scenarios.md, "Any operator"):
//! `KUBECONFIG` (the embedded control plane, a bearer token, loopback), `WATCH_NAMESPACE` (the one
//! namespace the scenario uses), `IRONIC_ENDPOINT` (Ironic's API base ending in `/v1/`, noauth),
//! `DEPLOY_KERNEL_URL`, `DEPLOY_RAMDISK_URL`, `DEPLOY_ISO_URL` (placeholders: the fake agent boots
//! no kernel) and `PROVISIONING_LIMIT` (the scenario's `operator.provisioning_limit`). Its
//! standard output and error go to `operator.log` in the run's output directory; an exit before
//! the run ends stops the run with the log's tail.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use metal_scenario::OperatorKind;
use metal_testkit::bmo::{Bmo, BmoLaunch};

use super::WireError;

/// Which operator a wire run drives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OperatorChoice {
    /// Ours, in this process (the default).
    #[default]
    Ours,
    /// Upstream Metal3 baremetal-operator, as `make bmo` built it.
    Bmo,
    /// Any command (`cmd:PROGRAM ARGS…`, split on whitespace, no shell quoting: wrap anything
    /// more in a script).
    Command(Vec<String>),
}

impl FromStr for OperatorChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ours" => Ok(OperatorChoice::Ours),
            "bmo" => Ok(OperatorChoice::Bmo),
            _ => match s.strip_prefix("cmd:") {
                Some(command) => {
                    let words: Vec<String> =
                        command.split_whitespace().map(str::to_string).collect();
                    if words.is_empty() {
                        Err("`cmd:` needs a program: cmd:PROGRAM ARGS…".into())
                    } else {
                        Ok(OperatorChoice::Command(words))
                    }
                }
                None => Err(format!(
                    "unknown operator {s:?}: give ours, bmo or 'cmd:PROGRAM ARGS…'"
                )),
            },
        }
    }
}

impl fmt::Display for OperatorChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorChoice::Ours => f.write_str("ours"),
            OperatorChoice::Bmo => f.write_str("bmo"),
            OperatorChoice::Command(words) => write!(f, "cmd:{}", words.join(" ")),
        }
    }
}

impl OperatorChoice {
    /// The kind scenarios name in `operators:`.
    pub fn kind(&self) -> OperatorKind {
        match self {
            OperatorChoice::Ours => OperatorKind::Ours,
            OperatorChoice::Bmo => OperatorKind::Bmo,
            OperatorChoice::Command(_) => OperatorKind::Command,
        }
    }

    /// What each `wait`'s `within` is multiplied by unless `--wait-factor` says otherwise: 1 for
    /// ours (the scenarios were written against it), 3 for an operator process (BMO requeues and
    /// polls Ironic every 10 s in several states, where ours polls at the fleet's pace).
    pub fn default_wait_factor(&self) -> f64 {
        match self {
            OperatorChoice::Ours => 1.0,
            OperatorChoice::Bmo | OperatorChoice::Command(_) => 3.0,
        }
    }

    /// Whether the operator's polls follow the fleet's time scale (ours: the runner gives it
    /// scaled settings), so that the scenario's spans (`advance`, `for`, `down_for`) may be
    /// scaled alike. BMO and other processes poll at their own fixed intervals.
    pub fn follows_time_scale(&self) -> bool {
        matches!(self, OperatorChoice::Ours)
    }

    /// The CRDs the control plane serves by default: upstream's for BMO, ours (Metal3's three
    /// and our HostPool) otherwise.
    pub fn default_crds(&self) -> CrdSet {
        match self {
            OperatorChoice::Bmo => CrdSet::Bmo,
            _ => CrdSet::Ours,
        }
    }
}

/// Which CustomResourceDefinitions the embedded control plane serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrdSet {
    /// Ours: BareMetalHost, HardwareData, HostClaim and HostPool.
    Ours,
    /// Upstream baremetal-operator's eleven (no HostPool), from `make bmo`.
    Bmo,
    /// YAML files (or directories of them).
    Files(Vec<PathBuf>),
}

impl FromStr for CrdSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ours" => CrdSet::Ours,
            "bmo" => CrdSet::Bmo,
            paths => CrdSet::Files(paths.split(',').map(PathBuf::from).collect()),
        })
    }
}

impl CrdSet {
    /// The CRD YAML files to load; our own are written into `work_dir` first.
    pub fn files(&self, work_dir: &Path) -> Result<Vec<PathBuf>, WireError> {
        let yaml_in = |dir: &Path| -> Result<Vec<PathBuf>, WireError> {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| WireError::Start(format!("reading {}: {e}", dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            Ok(files)
        };
        match self {
            CrdSet::Ours => {
                let path = work_dir.join("crds.yaml");
                let text = format!(
                    "{}{}",
                    metal_operator::api::crds_yaml(),
                    metal_operator::api::crd::pool_crds_yaml()
                );
                std::fs::write(&path, text).map_err(|e| WireError::Output {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Ok(vec![path])
            }
            CrdSet::Bmo => {
                let bmo = Bmo::locate().map_err(WireError::Start)?;
                bmo.crd_files()
                    .map_err(|e| WireError::Start(format!("BMO's CRDs: {e}: run `make bmo`")))
            }
            CrdSet::Files(paths) => {
                let mut out = Vec::new();
                for p in paths {
                    if p.is_dir() {
                        out.extend(yaml_in(p)?);
                    } else {
                        out.push(p.clone());
                    }
                }
                Ok(out)
            }
        }
    }
}

/// What an operator process is told (the contract above).
#[derive(Debug, Clone)]
pub struct Contract {
    /// The kubeconfig file of the embedded control plane.
    pub kubeconfig: PathBuf,
    /// Ironic's base URL (without `/v1`).
    pub ironic_url: String,
    /// The namespace watched.
    pub namespace: String,
    /// The base URL of the deploy kernel, ramdisk and ISO.
    pub deploy_base: String,
    /// `PROVISIONING_LIMIT`.
    pub provisioning_limit: u32,
    /// The run's output directory (the log, BMO's empty auth directory).
    pub work_dir: PathBuf,
}

impl Contract {
    /// The environment every operator process gets.
    pub fn env(&self) -> Vec<(String, String)> {
        let base = self.ironic_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let deploy = self.deploy_base.trim_end_matches('/');
        vec![
            ("KUBECONFIG".into(), self.kubeconfig.display().to_string()),
            ("WATCH_NAMESPACE".into(), self.namespace.clone()),
            ("IRONIC_ENDPOINT".into(), format!("{base}/v1/")),
            ("DEPLOY_KERNEL_URL".into(), format!("{deploy}/ipa.kernel")),
            (
                "DEPLOY_RAMDISK_URL".into(),
                format!("{deploy}/ipa.initramfs"),
            ),
            ("DEPLOY_ISO_URL".into(), format!("{deploy}/ipa.iso")),
            (
                "PROVISIONING_LIMIT".into(),
                self.provisioning_limit.to_string(),
            ),
        ]
    }
}

/// How long BMO gets to answer its readiness probe.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// Lines of the operator's log shown when it fails.
const TAIL_LINES: usize = 30;

/// A running operator process.
pub struct OperatorProcess {
    child: tokio::process::Child,
    /// Its log (stdout and stderr, appended across restarts).
    pub log: PathBuf,
    label: String,
}

impl OperatorProcess {
    /// Starts the operator `choice` names (not ours) under `contract`; for BMO, waits until its
    /// readiness probe answers.
    pub async fn start(
        choice: &OperatorChoice,
        contract: &Contract,
    ) -> Result<OperatorProcess, WireError> {
        let log = contract.work_dir.join("operator.log");
        let (program, args, env, health) = match choice {
            OperatorChoice::Ours => {
                return Err(WireError::Start(
                    "our operator runs in this process, not as a command".into(),
                ));
            }
            OperatorChoice::Bmo => {
                let bmo = Bmo::locate().map_err(WireError::Start)?;
                let health = SocketAddr::from(([127, 0, 0, 1], metal_testkit::ports::free_port()));
                let launch = BmoLaunch {
                    ironic_url: contract.ironic_url.clone(),
                    namespace: contract.namespace.clone(),
                    health,
                    deploy_base: contract.deploy_base.clone(),
                    work_dir: contract.work_dir.clone(),
                    kubeconfig: contract.kubeconfig.clone(),
                    concurrency: None,
                };
                let mut env = launch
                    .env()
                    .map_err(|e| WireError::Start(format!("BMO's work directory: {e}")))?;
                // The contract's variables BMO's rule does not already set (WATCH_NAMESPACE,
                // PROVISIONING_LIMIT).
                let extra: Vec<(String, String)> = contract
                    .env()
                    .into_iter()
                    .filter(|(k, _)| !env.iter().any(|(have, _)| have == k))
                    .collect();
                env.extend(extra);
                (
                    bmo.bin.display().to_string(),
                    launch.args(),
                    env,
                    Some(health),
                )
            }
            OperatorChoice::Command(words) => {
                (words[0].clone(), words[1..].to_vec(), contract.env(), None)
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| WireError::Output {
                path: log.display().to_string(),
                message: e.to_string(),
            })?;
        let err = file.try_clone().map_err(|e| WireError::Output {
            path: log.display().to_string(),
            message: e.to_string(),
        })?;
        let child = tokio::process::Command::new(&program)
            .args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                WireError::Start(format!("starting operator {choice} ({program}): {e}"))
            })?;
        let mut process = OperatorProcess {
            child,
            log,
            label: choice.to_string(),
        };
        if let Some(health) = health {
            process.await_ready(health).await?;
        }
        Ok(process)
    }

    /// Polls `http://HEALTH/readyz` until it answers 200, the process exits, or [`READY_LIMIT`].
    async fn await_ready(&mut self, health: SocketAddr) -> Result<(), WireError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| WireError::Start(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + READY_LIMIT;
        let url = format!("http://{health}/readyz");
        loop {
            if let Some(why) = self.exited() {
                return Err(WireError::Start(why));
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(WireError::Start(format!(
                    "operator {} did not become ready ({url}) within {READY_LIMIT:?}; last lines of {}:\n{}",
                    self.label,
                    self.log.display(),
                    log_tail(&self.log, TAIL_LINES)
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `Some(what happened, with the log's tail)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        Some(format!(
            "operator {} exited ({status}); last lines of {}:\n{}",
            self.label,
            self.log.display(),
            log_tail(&self.log, TAIL_LINES)
        ))
    }

    /// Kills the process (as a crash would: SIGKILL, no clean shutdown) and reaps it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The last `n` lines of a log file (or why it cannot be read).
pub fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return "(empty)".into();
            }
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_choices_parse_and_print_back() {
        assert_eq!("ours".parse(), Ok(OperatorChoice::Ours));
        assert_eq!("bmo".parse(), Ok(OperatorChoice::Bmo));
        let cmd: OperatorChoice = "cmd:/bin/op --flag  x".parse().unwrap();
        assert_eq!(
            cmd,
            OperatorChoice::Command(vec!["/bin/op".into(), "--flag".into(), "x".into()])
        );
        assert_eq!(cmd.to_string(), "cmd:/bin/op --flag x");
        assert_eq!(cmd.kind(), OperatorKind::Command);
        assert!("cmd: ".parse::<OperatorChoice>().is_err());
        assert!("kubebuilder".parse::<OperatorChoice>().is_err());
    }

    #[test]
    fn the_contract_names_ironic_with_v1_and_the_deploy_images() {
        let c = Contract {
            kubeconfig: PathBuf::from("/run/kc"),
            ironic_url: "http://127.0.0.1:6385/v1".into(),
            namespace: "ns".into(),
            deploy_base: "http://127.0.0.1:8080/".into(),
            provisioning_limit: 7,
            work_dir: PathBuf::from("/run"),
        };
        let env = c.env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("IRONIC_ENDPOINT"), "http://127.0.0.1:6385/v1/");
        assert_eq!(get("WATCH_NAMESPACE"), "ns");
        assert_eq!(get("KUBECONFIG"), "/run/kc");
        assert_eq!(get("DEPLOY_ISO_URL"), "http://127.0.0.1:8080/ipa.iso");
        assert_eq!(get("PROVISIONING_LIMIT"), "7");
    }

    #[tokio::test]
    async fn a_command_that_exits_is_reported_with_its_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let contract = Contract {
            kubeconfig: dir.path().join("kc"),
            ironic_url: "http://127.0.0.1:9".into(),
            namespace: "ns".into(),
            deploy_base: "http://127.0.0.1:9".into(),
            provisioning_limit: 1,
            work_dir: dir.path().to_path_buf(),
        };
        let script = OperatorChoice::Command(vec![
            "sh".into(),
            "-c".into(),
            "echo namespace=$WATCH_NAMESPACE; exit 3".into(),
        ]);
        let mut p = OperatorProcess::start(&script, &contract).await.unwrap();
        let why =
            metal_testkit::wait::Wait::new("the operator process to exit", Duration::from_secs(10))
                .until_some(|| p.exited())
                .await
                .unwrap();
        assert!(why.contains("exit status: 3"), "{why}");
        assert!(why.contains("namespace=ns"), "{why}");
    }
}
