//! The invariants judged over a whole trace, in the order things happened.

use std::collections::{BTreeMap, BTreeSet};

use super::credentials::passwords;
use super::expectations::accepted;
use super::{CheckId, Failure, Invariant, Verdict};
use crate::Scenario;
use crate::format::Step;
use crate::trace::{CallKind, Happening, MachineChange, Protocol, Trace};
use metal_sim::machine::{BmcProtocol, SimTime};

/// Per-host state the invariants follow through the trace.
#[derive(Default)]
struct Follow {
    state: String,
    status: String,
    error_count: u32,
    inspected: bool,
    exempt_from_inspection: bool,
    /// Since the host last entered a state other than provisioning: (accepted deploys, deploy
    /// failures). Counted from there rather than from `provisioning` itself, so a deploy request
    /// observed just before the status write that announces the state still counts.
    episode: (u32, u32),
}

pub(super) fn invariants(scenario: &Scenario, trace: &Trace, ironic_seen: bool, v: &mut Verdict) {
    let inv = &scenario.file.invariants;
    let line = scenario.invariants_line();
    let limit = scenario.max_busy();
    let virtual_media: BTreeSet<&str> = scenario
        .fleet
        .hosts()
        .iter()
        .filter(|h| h.bmc.protocol == BmcProtocol::RedfishVirtualmedia)
        .map(|h| h.name.as_str())
        .collect();
    if inv.one_deploy_per_provisioning && !ironic_seen {
        v.skipped.push(
            "one_deploy_per_provisioning: the trace has no Ironic calls (external Ironic?)".into(),
        );
    }
    let secrets = if inv.no_credential_in_trace {
        passwords(scenario)
    } else {
        BTreeSet::new()
    };
    let mut leaked: BTreeSet<&str> = BTreeSet::new();
    // Hosts whose Ironic node exists as far as the trace tells: the last accepted call about it.
    let mut nodes: BTreeMap<&str, String> = BTreeMap::new();
    let mut hosts: BTreeMap<&str, Follow> = BTreeMap::new();
    let mut claims_by_host: BTreeMap<&str, &str> = BTreeMap::new();
    // Hosts a `delete` step has been run on: their claims may let them go in any state.
    let mut deleting: BTreeSet<String> = BTreeSet::new();
    let mut busy_reported = false;
    // Wire mode: each host's states by the control plane's revision that wrote them, and the
    // claims' releases (host, claim, revision, instant) to judge against them at the end.
    let mut states_at: BTreeMap<&str, BTreeMap<u64, &str>> = BTreeMap::new();
    let mut released: Vec<(&str, &str, u64, SimTime)> = Vec::new();
    let fail =
        |v: &mut Verdict, which: Invariant, host: Option<&str>, at: SimTime, message: String| {
            v.failures.push(Failure {
                check: CheckId::Invariant(which),
                line,
                host: host.map(str::to_string),
                at: Some(at),
                message,
            });
        };
    for (n, e) in trace.events.iter().enumerate() {
        if !secrets.is_empty() {
            let text = serde_json::to_string(&e.what).unwrap_or_default();
            for p in &secrets {
                // Each password reported once, and never printed.
                if text.contains(p.as_str()) && leaked.insert(p) {
                    fail(
                        v,
                        Invariant::NoCredentialInTrace,
                        e.what.host(),
                        e.t,
                        format!("a BMC password appears in a trace line ({})", e.what.kind()),
                    );
                }
            }
        }
        if let Happening::Call {
            host: Some(host),
            protocol: Protocol::Ironic,
            action,
            status,
            method,
            target,
            ..
        } = &e.what
        {
            if *action == Some(CallKind::DeleteNode) && (accepted(*status) || *status == Some(404))
            {
                nodes.remove(host.as_str());
            } else if accepted(*status) {
                nodes.insert(host, format!("{method} {target}"));
            }
        }
        match &e.what {
            Happening::HostFacts {
                host,
                inspection_disabled,
                externally_provisioned,
                ..
            } => {
                let f = hosts.entry(host).or_default();
                f.exempt_from_inspection |= *inspection_disabled || *externally_provisioned;
            }
            Happening::HostState {
                host, to, revision, ..
            } => {
                if let Some(r) = revision {
                    states_at.entry(host).or_default().insert(*r, to);
                }
                let f = hosts.entry(host).or_default();
                // A provisioning episode runs from leaving `provisioned` (or the start) to the next
                // `provisioned`: its deploys may be seen before the watch delivers `available` →
                // `provisioning` (wire mode stamps journal calls at their own instants, states when
                // the watch delivers them), never before the host left `provisioned`.
                // A provisioning cancelled (image removed or changed) ends in `deprovisioning`:
                // the next provisioning is a new episode with its own deploy.
                if (f.state == "provisioned" && to != "provisioned") || to == "deprovisioning" {
                    f.episode = (0, 0);
                }
                f.state = to.clone();
                match to.as_str() {
                    "inspecting" => f.inspected = true,
                    "externally provisioned" => f.exempt_from_inspection = true,
                    "provisioning" => {}
                    "provisioned" => {
                        if inv.inspected_before_provisioned
                            && !f.inspected
                            && !f.exempt_from_inspection
                        {
                            fail(
                                v,
                                Invariant::InspectedBeforeProvisioned,
                                Some(host),
                                e.t,
                                "provisioned without having been inspected (inspection not disabled, not externally provisioned)"
                                    .into(),
                            );
                        }
                        let (deploys, failures) = std::mem::take(&mut f.episode);
                        if inv.one_deploy_per_provisioning
                            && ironic_seen
                            && (deploys == 0 || deploys > failures + 1)
                        {
                            fail(
                                v,
                                Invariant::OneDeployPerProvisioning,
                                Some(host),
                                e.t,
                                format!(
                                    "{deploys} accepted deploy requests for one provisioning with {failures} deploy failures (expected {})",
                                    failures + 1
                                ),
                            );
                        }
                    }
                    _ => {}
                }
            }
            Happening::HostStatus {
                host,
                operational_status,
                error_type,
                error_count,
                ..
            } => {
                let f = hosts.entry(host).or_default();
                f.status = operational_status.clone();
                if *error_count > f.error_count
                    && error_type.as_deref() == Some("provisioning error")
                {
                    f.episode.1 += error_count - f.error_count;
                }
                f.error_count = *error_count;
            }
            Happening::HostGone { host } => {
                hosts.remove(host.as_str());
                if let Some(last) = nodes.remove(host.as_str())
                    && inv.no_orphaned_ironic_node
                    && ironic_seen
                {
                    fail(
                        v,
                        Invariant::NoOrphanedIronicNode,
                        Some(host),
                        e.t,
                        format!(
                            "the BareMetalHost is gone but its Ironic node was never deleted (last accepted Ironic call about it: {last})"
                        ),
                    );
                }
            }
            Happening::Call {
                host: Some(host),
                protocol,
                action: Some(action),
                status,
                method,
                target,
                ..
            } => {
                let f = hosts.entry(host).or_default();
                if *action == CallKind::Deploy && *protocol == Protocol::Ironic && accepted(*status)
                {
                    f.episode.0 += 1;
                }
                // A node created again (Ironic lost the old one): deploys sent to the old node
                // went nowhere, the next one is the first on the new node.
                if *action == CallKind::Enroll && *protocol == Protocol::Ironic && accepted(*status)
                {
                    f.episode = (0, 0);
                }
                if inv.no_power_action_when_detached
                    && action.is_power()
                    && matches!(protocol, Protocol::Redfish | Protocol::Ipmi)
                    && f.status == "detached"
                {
                    fail(
                        v,
                        Invariant::NoPowerActionWhenDetached,
                        Some(host),
                        e.t,
                        format!(
                            "power action {} ({method} {target}) reached the BMC of a detached host",
                            action.as_str()
                        ),
                    );
                }
            }
            // Wire mode sees the machines rather than each BMC request: a power change of a
            // detached host's machine means some power action reached its BMC.
            Happening::Machine { host, change }
                if inv.no_power_action_when_detached
                    && matches!(change, MachineChange::PoweredOn | MachineChange::PoweredOff)
                    && hosts
                        .get(host.as_str())
                        .is_some_and(|f| f.status == "detached") =>
            {
                fail(
                    v,
                    Invariant::NoPowerActionWhenDetached,
                    Some(host),
                    e.t,
                    format!("the machine changed power ({change:?}) while its host is detached"),
                );
            }
            Happening::Step { index, .. } => {
                if let Some(Step::Delete(t)) = scenario.file.timeline.get(*index) {
                    if let Some(sel) = &t.hosts {
                        deleting.extend(scenario.host_names(sel));
                    } else if t.kind.as_deref() == Some("BareMetalHost") {
                        deleting.extend(t.name.clone());
                    }
                }
            }
            Happening::Claim {
                claim,
                host,
                revision,
            } => {
                let held: Vec<&str> = claims_by_host
                    .iter()
                    .filter(|(h, c)| *c == claim && host.as_deref() != Some(**h))
                    .map(|(h, _)| *h)
                    .collect();
                for h in held.into_iter().filter(|h| !deleting.contains(*h)) {
                    if !inv.claim_released_when_deprovisioned {
                        continue;
                    }
                    match revision {
                        // Wire mode: judged once the whole trace is in, against the host's state
                        // as of the claim's write, whichever watch delivered first.
                        Some(r) => released.push((h, claim.as_str(), *r, e.t)),
                        None => {
                            let state = hosts.get(h).map_or("", |f| f.state.as_str());
                            if let Some(message) = let_go_early(claim, state) {
                                fail(
                                    v,
                                    Invariant::ClaimReleasedWhenDeprovisioned,
                                    Some(h),
                                    e.t,
                                    message,
                                );
                            }
                        }
                    }
                }
                claims_by_host.retain(|_, c| c != claim);
                if let Some(h) = host {
                    if inv.one_claim_per_host
                        && let Some(other) = claims_by_host.get(h.as_str())
                    {
                        fail(
                            v,
                            Invariant::OneClaimPerHost,
                            Some(h),
                            e.t,
                            format!("claim {claim:?} bound while {other:?} still holds the host"),
                        );
                    }
                    claims_by_host.insert(h, claim);
                }
            }
            _ => {}
        }
        // The busy count is judged once all events of an instant are in.
        let instant_ends = trace.events.get(n + 1).is_none_or(|next| next.t != e.t);
        if instant_ends && !busy_reported {
            let busy: Vec<&str> = hosts
                .iter()
                .filter(|(name, f)| {
                    matches!(
                        f.state.as_str(),
                        "inspecting" | "provisioning" | "deprovisioning"
                    ) && f.status != "delayed"
                        && !virtual_media.contains(*name)
                })
                .map(|(name, _)| *name)
                .collect();
            if busy.len() > limit as usize {
                busy_reported = true;
                fail(
                    v,
                    Invariant::MaxBusy,
                    None,
                    e.t,
                    format!(
                        "{} hosts hold a provisioning slot, the limit is {limit} (first over the limit here)",
                        busy.len()
                    ),
                );
            }
        }
    }
    for (h, claim, r, t) in released {
        // The last state the host was written in before the claim was.
        let state = states_at
            .get(h)
            .and_then(|by| by.range(..r).next_back())
            .map_or("", |(_, state)| *state);
        if let Some(message) = let_go_early(claim, state) {
            fail(
                v,
                Invariant::ClaimReleasedWhenDeprovisioned,
                Some(h),
                t,
                message,
            );
        }
    }
}

/// Why a claim letting its host go while the host is in `state` is too early, if it is: a host is
/// let go once it is deprovisioned, never while it is being or has been provisioned.
fn let_go_early(claim: &str, state: &str) -> Option<String> {
    matches!(state, "provisioning" | "provisioned" | "deprovisioning").then(|| {
        format!("claim {claim:?} let the host go while it is {state}, before it was deprovisioned")
    })
}
