//! A real binary run as a child process, its output in a log file; killed when dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// What a child inherits of this process's environment.
#[derive(Clone, Copy)]
enum Inherit {
    /// Everything but [`STRAY`].
    AllBut,
    /// Only `PATH` and `HOME`.
    PathAndHome,
}

/// Variables that would change a child's settings behind its flags' back.
const STRAY: &[&str] = &[
    "KUBECONFIG",
    "IRONIC_ENDPOINT",
    "WATCH_NAMESPACE",
    "POD_NAME",
    "POD_NAMESPACE",
    "METRICS_ADDR",
    "HEALTH_ADDR",
    "LEADER_ELECT",
    "METAL_SIM_FLEET",
    "METAL_SIM_ENDPOINTS",
    "METAL_SIM_CONTROL",
    "METAL_SIM_IRONIC",
];

/// One child process.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program args` with `envs` added, stdout and stderr appended to `<log_dir>/<name>.log`.
    pub fn spawn<I, S>(
        name: &str,
        program: &Path,
        args: I,
        envs: &[(&str, &OsStr)],
        log_dir: &Path,
    ) -> anyhow::Result<Process>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start(name, program, args, envs, log_dir, Inherit::AllBut)
    }

    /// Like [`Process::spawn`], but nothing of this process's environment is passed on except
    /// `PATH` and `HOME`: for a program configured by environment variables (upstream BMO reads
    /// `BMO_CONCURRENCY`, `PROVISIONING_LIMIT`, …), so a stray variable cannot change a measured run.
    pub fn spawn_isolated<I, S>(
        name: &str,
        program: &Path,
        args: I,
        envs: &[(&str, &OsStr)],
        log_dir: &Path,
    ) -> anyhow::Result<Process>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start(name, program, args, envs, log_dir, Inherit::PathAndHome)
    }

    fn start<I, S>(
        name: &str,
        program: &Path,
        args: I,
        envs: &[(&str, &OsStr)],
        log_dir: &Path,
        inherit: Inherit,
    ) -> anyhow::Result<Process>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        match inherit {
            Inherit::PathAndHome => {
                command.env_clear();
                for keep in ["PATH", "HOME"] {
                    if let Some(v) = std::env::var_os(keep) {
                        command.env(keep, v);
                    }
                }
            }
            // The children take their settings from flags; stray variables must not change them.
            Inherit::AllBut => {
                for var in STRAY {
                    command.env_remove(var);
                }
            }
        }
        command.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// `Err` naming the process, its exit status and the tail of its log once it has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.exited() {
            anyhow::bail!(
                "{} exited ({status}); its log ends with:\n{}",
                self.name,
                self.tail(30)
            );
        }
        Ok(())
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The OS process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then reap.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("killing {}", self.name))
    }

    /// The whole log.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: what the harness's long-running commands (`metal-kube
/// up`, `metal-h2h`) wait for before they drop their children, so `kill` leaves no process behind.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
