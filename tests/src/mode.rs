//! Which Kubernetes the suite runs against, chosen by the environment `scripts/e2e.sh` sets:
//! - embedded (default): each test starts its own `metal-sim controlplane`;
//! - real (`E2E_CONTROL_PLANE=real`, `E2E_REAL_STATE=<state.json>`): one real kube-apiserver started
//!   by `metal-kube up` for the whole run; each test starts its own simulator and operator, and the
//!   operator authenticates with the `metal-operator` ServiceAccount's token (RBAC from `kind/`);
//! - external (`E2E_KUBECONFIG`, e.g. kind): nothing is started.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The real control plane's state file, as `metal-kube up` writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct RealState {
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// What `/version` reports.
    pub version: String,
    /// Cluster admin (`system:masters`): tests and kubectl use it.
    pub admin_kubeconfig: PathBuf,
    /// The operator's ServiceAccount token, bound to `kind/operator/rbac.yaml`.
    pub operator_kubeconfig: PathBuf,
    /// Upstream BMO's ServiceAccount token (`metal-kube up --crds upstream` only).
    #[serde(default)]
    pub bmo_kubeconfig: Option<PathBuf>,
    /// The CA (PEM file) the server's certificate chains to.
    pub ca_cert: PathBuf,
}

impl RealState {
    /// Reads `path`.
    pub fn load(path: &std::path::Path) -> anyhow::Result<RealState> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the real control plane's state {} (is `metal-kube up` running?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The control plane of this run.
#[derive(Debug, Clone)]
pub enum Mode {
    Embedded,
    Real(RealState),
    External(PathBuf),
}

impl Mode {
    /// Reads the mode from the environment.
    pub fn from_env() -> anyhow::Result<Mode> {
        if let Some(path) = std::env::var_os("E2E_KUBECONFIG").filter(|v| !v.is_empty()) {
            return Ok(Mode::External(PathBuf::from(path)));
        }
        match std::env::var("E2E_CONTROL_PLANE").as_deref() {
            Err(_) | Ok("") | Ok("embedded") => Ok(Mode::Embedded),
            Ok("real") => {
                let path = std::env::var_os("E2E_REAL_STATE")
                    .filter(|v| !v.is_empty())
                    .context(
                        "E2E_CONTROL_PLANE=real needs E2E_REAL_STATE (metal-kube up's state.json)",
                    )?;
                Ok(Mode::Real(RealState::load(std::path::Path::new(&path))?))
            }
            Ok(other) => bail!("E2E_CONTROL_PLANE={other:?}: expected \"embedded\" or \"real\""),
        }
    }

    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
            Mode::Real(_) => "real",
            Mode::External(_) => "external",
        }
    }
}
