//! Faults switched on the wire: BMC fault sets on the fleet's hosts, the mock Ironic's API fault
//! (`/_sim/faults`), agent heartbeat loss on the agent launcher and watch disconnects on the
//! control plane (`switches`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::WireError;
use super::steps::WireBackend;
use metal_scenario::format::FaultTarget;
use metal_scenario::play::{ActiveFault, bmc_faults};

/// How long the mock Ironic keeps an API fault that has no `for` (the runner clears it earlier
/// with `clear_fault`; the bound keeps a forgotten one from outliving the run).
const IRONIC_FAULT_BOUND: Duration = Duration::from_secs(3600);

/// Switches the mock Ironic's API fault on (`Some(body)`) or off (`None`) at `/_sim/faults`.
async fn switch_ironic_fault(ironic_url: &str, body: Option<Value>) -> Result<(), String> {
    let url = format!("{}/_sim/faults", ironic_url.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let request = match body {
        Some(b) => http.post(&url).json(&b),
        None => http.delete(&url),
    };
    let resp = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(format!("{url}: {status}: {text}"))
    }
}

/// Restarts the mock Ironic on an empty database (`POST /_sim/lose-database`).
async fn lose_ironic_database(ironic_url: &str) -> Result<(), String> {
    let url = format!("{}/_sim/lose-database", ironic_url.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let resp = http
        .post(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: {}", resp.status()))
    }
}

impl WireBackend<'_> {
    /// Recomputes each of `hosts`' BMC faults: the fleet's own plus every active BMC fault on it.
    fn apply_bmc_faults(&self, hosts: &[String], active: &BTreeMap<String, ActiveFault>) {
        let world = self.stack.world();
        let now = world.now();
        for name in hosts {
            let Some(host) = world.host_by_name(name) else {
                continue;
            };
            host.set_faults(now, bmc_faults(&self.fleet, active, name));
        }
    }

    /// Switches fault `f` (one of `active`) on.
    pub(super) async fn switch_on(
        &self,
        f: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) -> Result<(), WireError> {
        let name = &f.name;
        match (f.target, &f.ironic) {
            (FaultTarget::Bmc, _) => {}
            (FaultTarget::Ironic, Some(ironic)) if self.stack.mock_ironic => {
                if ironic.database_lost {
                    lose_ironic_database(&self.stack.ironic_url)
                        .await
                        .map_err(|e| WireError::Step(format!("injecting {name}: {e}")))?;
                }
                if ironic.http_5xx_rate == 0.0 {
                    self.apply_bmc_faults(&f.hosts, active);
                    return Ok(());
                }
                let seconds = f.duration.unwrap_or(IRONIC_FAULT_BOUND);
                let body = json!({
                    "http_5xx_rate": ironic.http_5xx_rate,
                    "status": ironic.status.unwrap_or(503),
                    "for_seconds": seconds.as_secs_f64(),
                });
                switch_ironic_fault(&self.stack.ironic_url, Some(body))
                    .await
                    .map_err(|e| WireError::Step(format!("injecting {name}: {e}")))?;
            }
            (FaultTarget::Ironic, _) => {
                return Err(WireError::Unsupported(
                    "Ironic faults need the mock Ironic (`ironic: mock`)".into(),
                ));
            }
            (FaultTarget::Agent, _) => self.stack.silence_agents(&f.hosts, f.until)?,
            (FaultTarget::ControlPlane, _) => {
                let open = self.stack.disconnect_watches(f.duration);
                tracing::info!(fault = %name, open, "control-plane watches cut");
            }
        }
        self.apply_bmc_faults(&f.hosts, active);
        Ok(())
    }

    /// Switches `ended` off; the faults still in `active` stay in force.
    pub(super) async fn switch_off(
        &self,
        ended: &ActiveFault,
        active: &BTreeMap<String, ActiveFault>,
    ) {
        self.apply_bmc_faults(&ended.hosts, active);
        match ended.target {
            FaultTarget::Agent => {
                self.stack.resume_agents(&ended.hosts);
                for f in active.values() {
                    if f.target == FaultTarget::Agent {
                        // Agents ran when this fault started, so the launcher is there.
                        let _ = self.stack.silence_agents(&f.hosts, f.until);
                    }
                }
            }
            FaultTarget::ControlPlane => {
                let others = active
                    .values()
                    .any(|f| f.target == FaultTarget::ControlPlane);
                if !others {
                    self.stack.resume_watches();
                }
            }
            FaultTarget::Ironic => {
                if let Err(e) = switch_ironic_fault(&self.stack.ironic_url, None).await {
                    // The mock's own window still ends it.
                    tracing::warn!(fault = %ended.name, error = %e, "could not clear the Ironic fault");
                }
            }
            FaultTarget::Bmc => {}
        }
    }
}
