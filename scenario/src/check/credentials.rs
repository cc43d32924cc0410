//! The credentials a run used, searched for where they must never appear: the trace (judged with
//! the invariants) and the logs the run's processes wrote ([`credentials_in_log`]).

use std::collections::BTreeSet;

use super::{CheckId, Failure, Invariant};
use crate::Scenario;
use crate::format::Step;

/// The BMC passwords the scenario knows (the fleet's, and those its timeline writes into Secrets
/// or registers with), of at least [`SECRET_MIN_LEN`] characters.
pub(super) fn passwords(scenario: &Scenario) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = scenario
        .fleet
        .hosts()
        .iter()
        .map(|h| h.bmc.credentials.password.clone())
        .collect();
    for step in &scenario.file.timeline {
        match step {
            Step::Register(r) => out.extend(r.password.clone()),
            Step::Patch(p) if p.kind.as_deref() == Some("Secret") => {
                if let Some(pw) = p
                    .patch
                    .pointer("/stringData/password")
                    .and_then(|v| v.as_str())
                {
                    out.insert(pw.to_owned());
                }
            }
            _ => {}
        }
    }
    out.retain(|p| p.chars().count() >= SECRET_MIN_LEN);
    out
}

/// Shorter passwords (`password`, `calvin`) are ordinary words a message may hold.
const SECRET_MIN_LEN: usize = 12;

/// Searches the log `log` (its text `text`) for every BMC password the scenario knows and every
/// other secret of the run in `secrets` (a description and the secret, e.g. the control plane's
/// bearer token): one failure per secret found, at the `invariants:` line, naming the log line of
/// its first appearance and never printing the secret. Judged when `no_credential_in_trace` is on.
pub fn credentials_in_log(
    scenario: &Scenario,
    log: &str,
    text: &str,
    secrets: &[(&str, &str)],
) -> Vec<Failure> {
    if !scenario.file.invariants.no_credential_in_trace {
        return Vec::new();
    }
    let passwords = passwords(scenario);
    let mut sought: Vec<(&str, &str)> = passwords
        .iter()
        .map(|p| ("a BMC password", p.as_str()))
        .collect();
    sought.extend(
        secrets
            .iter()
            .filter(|(_, s)| s.chars().count() >= SECRET_MIN_LEN),
    );
    let mut out = Vec::new();
    for (what, secret) in sought {
        if let Some(n) = text.lines().position(|l| l.contains(secret)) {
            out.push(Failure {
                check: CheckId::Invariant(Invariant::NoCredentialInTrace),
                line: scenario.invariants_line(),
                host: None,
                at: None,
                message: format!("{what} appears in {log}, line {}", n + 1),
            });
        }
    }
    out
}
