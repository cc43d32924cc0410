//! The operator processes of embedded mode: started (or restarted) and killed by index, their
//! metrics and logs.

use std::ffi::OsStr;
use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use metal_testkit::bmo::{Bmo, BmoLaunch};

use super::{Local, OperatorUnderTest, STARTUP, Stack};
use crate::kubernetes::access::OPERATOR_NAMESPACE;
use crate::mode::Mode;
use crate::process::Process;
use crate::wait::{Check, eventually};

impl Stack {
    /// Number of operator replicas set up.
    pub fn operator_count(&self) -> usize {
        self.setup.operators
    }

    /// The identity operator `index` writes into the Lease and its Events' `reportingInstance`.
    pub fn operator_identity(&self, index: usize) -> String {
        format!("e2e-operator-{index}")
    }

    fn local_mut(&mut self) -> anyhow::Result<&mut Local> {
        self.local
            .as_mut()
            .context("operator processes are only controlled in embedded mode (no E2E_KUBECONFIG)")
    }

    /// Starts (or restarts) operator `index` and waits until it reports ready.
    pub async fn start_operator(&mut self, index: usize) -> anyhow::Result<()> {
        let http = self.http.clone();
        let (process, health) = match self.setup.operator.clone() {
            OperatorUnderTest::Ours => self.spawn_ours(index)?,
            OperatorUnderTest::Bmo(bmo) => self.spawn_bmo(index, &bmo)?,
            OperatorUnderTest::Command { program, args } => {
                self.spawn_command(index, &program, &args)?
            }
        };
        let local = self.local_mut()?;
        if local.operators.len() <= index {
            local.operators.push(process);
            local.running.push(true);
        } else {
            local.operators[index] = process;
            local.running[index] = true;
        }
        let url = format!("http://{health}/readyz");
        let process = &mut local.operators[index];
        eventually(STARTUP, &format!("operator-{index} to be ready"), || {
            let exited = process.exited();
            let tail = process.tail(20);
            let http = http.clone();
            let url = url.clone();
            async move {
                if let Some(status) = exited {
                    bail!("operator-{index} exited ({status}); its log ends with:\n{tail}");
                }
                Ok(match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Check::Done(()),
                    Ok(r) => Check::Pending(format!("readyz {}", r.status())),
                    Err(e) => Check::Pending(format!("readyz: {e}")),
                })
            }
        })
        .await
    }

    /// Where the deploy kernel, ramdisk and ISO are said to be.
    fn deploy_base(&self) -> String {
        self.setup
            .deploy_base
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1/e2e".to_owned())
    }

    fn log_dir(&mut self) -> anyhow::Result<std::path::PathBuf> {
        Ok(self
            .local_mut()?
            .dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default())
    }

    /// `metal-operator run` with the test's settings.
    fn spawn_ours(&mut self, index: usize) -> anyhow::Result<(Process, SocketAddr)> {
        let namespace = self.namespace.clone();
        let identity = self.operator_identity(index);
        let leader_elect = self.setup.leader_elect;
        let real = matches!(self.mode, Mode::Real(_));
        let (_, lease_name) = self.lease();
        let kubeconfig = self.operator_kubeconfig.clone();
        let deploy = self.deploy_base();
        let log_dir = self.log_dir()?;
        // The operator polls as fast as the fleet's time scale lets it, as every testbed does.
        let pace = metal_operator::statemachine::Settings::default()
            .for_fleet(
                self.fleet.fleet.file.time_scale,
                self.fleet.fleet.hosts().len(),
            )
            .to_flags();
        let local = self.local_mut()?;
        let metrics = local.subnet.operator_metrics(index).to_string();
        let health = local.subnet.operator_health(index);
        let mut args: Vec<String> = [
            "run",
            "--ironic-endpoint",
            &local.ironic_url,
            "--deploy-kernel-url",
            &format!("{deploy}/ipa.kernel"),
            "--deploy-ramdisk-url",
            &format!("{deploy}/ipa.initramfs"),
            "--deploy-iso-url",
            &format!("{deploy}/ipa.iso"),
            "--metrics-addr",
            &metrics,
            "--health-addr",
            &health.to_string(),
            "--seed",
            &index.to_string(),
            "--lease-identity",
            &identity,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(pace);
        if real {
            // One apiserver serves every test of the run: each operator minds its own namespace.
            args.extend(["--watch-namespace".to_owned(), namespace.clone()]);
        }
        if leader_elect {
            let lease_namespace = if real {
                OPERATOR_NAMESPACE.to_owned()
            } else {
                namespace.clone()
            };
            args.extend(
                [
                    "--leader-elect",
                    "--lease-name",
                    &lease_name,
                    "--lease-namespace",
                    &lease_namespace,
                    "--lease-duration-seconds",
                    "6",
                    "--lease-renew-deadline-seconds",
                    "4",
                    "--lease-retry-period-seconds",
                    "1",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
        }
        let process = Process::spawn(
            &format!("operator-{index}"),
            &local.bins.operator,
            &args,
            &[("KUBECONFIG", kubeconfig.as_os_str())],
            &log_dir,
        )?;
        Ok((process, health))
    }

    /// Upstream BMO, by [`BmoLaunch`]'s rule, as its own ServiceAccount.
    fn spawn_bmo(&mut self, index: usize, bmo: &Bmo) -> anyhow::Result<(Process, SocketAddr)> {
        let kubeconfig = match &self.mode {
            Mode::Real(state) => state.bmo_kubeconfig.clone().context(
                "BMO needs upstream's CRDs and its ServiceAccount: a cluster from \
                 `metal-kube up --crds upstream` (or kubernetes::upstream::install)",
            )?,
            other => bail!(
                "BMO runs on a real apiserver set up with upstream's CRDs, not in {} mode",
                other.name()
            ),
        };
        anyhow::ensure!(
            !self.setup.leader_elect && self.setup.operators == 1,
            "BMO runs as one replica without leader election here"
        );
        let namespace = self.namespace.clone();
        let deploy = self.deploy_base();
        let log_dir = self.log_dir()?;
        let local = self.local_mut()?;
        let health = local.subnet.operator_health(index);
        let launch = BmoLaunch {
            ironic_url: local.ironic_url.clone(),
            namespace,
            health,
            deploy_base: deploy,
            work_dir: log_dir.clone(),
            kubeconfig,
            concurrency: None,
        };
        let env = launch.env()?;
        let env: Vec<(&str, &OsStr)> = env
            .iter()
            .map(|(k, v)| (k.as_str(), OsStr::new(v.as_str())))
            .collect();
        let process = Process::spawn(
            &format!("operator-{index}"),
            &bmo.bin,
            launch.args(),
            &env,
            &log_dir,
        )?;
        Ok((process, health))
    }

    /// Any program, by [`OperatorUnderTest::Command`]'s contract.
    fn spawn_command(
        &mut self,
        index: usize,
        program: &std::path::Path,
        args: &[String],
    ) -> anyhow::Result<(Process, SocketAddr)> {
        let kubeconfig = self.operator_kubeconfig.clone();
        let namespace = self.namespace.clone();
        let deploy = self.deploy_base();
        let log_dir = self.log_dir()?;
        let local = self.local_mut()?;
        let health = local.subnet.operator_health(index);
        let endpoint = format!("{}/v1/", local.ironic_url.trim_end_matches('/'));
        let env: Vec<(&str, String)> = vec![
            ("KUBECONFIG", kubeconfig.display().to_string()),
            ("WATCH_NAMESPACE", namespace),
            ("IRONIC_ENDPOINT", endpoint),
            ("DEPLOY_KERNEL_URL", format!("{deploy}/ipa.kernel")),
            ("DEPLOY_RAMDISK_URL", format!("{deploy}/ipa.initramfs")),
            ("DEPLOY_ISO_URL", format!("{deploy}/ipa.iso")),
            ("HEALTH_ADDR", health.to_string()),
        ];
        let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
        let process = Process::spawn(&format!("operator-{index}"), program, args, &env, &log_dir)?;
        Ok((process, health))
    }

    /// Kills operator `index` with SIGKILL (no shutdown path runs).
    pub async fn kill_operator(&mut self, index: usize) -> anyhow::Result<()> {
        let local = self.local_mut()?;
        let process = local
            .operators
            .get_mut(index)
            .with_context(|| format!("no operator {index}"))?;
        process.kill().await?;
        local.running[index] = false;
        Ok(())
    }

    /// The Prometheus text of operator `index`.
    pub async fn operator_metrics(&self, index: usize) -> anyhow::Result<String> {
        let local = self
            .local
            .as_ref()
            .context("operator metrics are only read in embedded mode")?;
        let url = format!("http://{}/metrics", local.subnet.operator_metrics(index));
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        Ok(response.error_for_status()?.text().await?)
    }

    /// The whole log of operator `index`.
    pub fn operator_log(&self, index: usize) -> anyhow::Result<String> {
        let local = self
            .local
            .as_ref()
            .context("operator logs are only read in embedded mode")?;
        Ok(local
            .operators
            .get(index)
            .with_context(|| format!("no operator {index}"))?
            .log_text())
    }
}
