//! The rules serde cannot check: names that exist, real states, one target per fault, positive
//! deadlines, well-formed expectations.

use std::collections::BTreeSet;

use metal_core::api::{ErrorType, OperationalStatus, ProvisioningState};
use metal_core::claim::progress::bound_reason;

use super::super::format::{Condition, HostSelector, InjectFault, ScenarioFile, Step, Target};
use super::super::outline::{Seg, key};
use super::super::trace::CallKind;
use super::*;
use metal_sim::fleet::Fleet;

pub(super) struct Context<'a> {
    pub(super) fleet: &'a Fleet,
}

impl Context<'_> {
    fn check_selector(&self, sel: &HostSelector, at: &[Seg]) -> Checked {
        match sel {
            HostSelector::All => Ok(()),
            HostSelector::Names(names) => {
                if names.is_empty() {
                    return Err(problem(at, "empty host list"));
                }
                for n in names {
                    if !self.fleet.hosts().iter().any(|h| &h.name == n) {
                        let known: Vec<&str> =
                            self.fleet.hosts().iter().map(|h| h.name.as_str()).collect();
                        let shown = known.iter().take(8).copied().collect::<Vec<_>>().join(", ");
                        let more = if known.len() > 8 { ", …" } else { "" };
                        return Err(problem(
                            at,
                            format!("unknown host {n:?} (the fleet has: {shown}{more})"),
                        ));
                    }
                }
                Ok(())
            }
            HostSelector::Labels(labels) => {
                if self
                    .fleet
                    .hosts()
                    .iter()
                    .any(|h| sel.matches(&h.name, &h.labels))
                {
                    Ok(())
                } else {
                    Err(problem(
                        at,
                        format!("no host of the fleet carries the labels {labels:?}"),
                    ))
                }
            }
        }
    }

    fn check_target(&self, t: &Target, at: &[Seg]) -> Checked {
        match (&t.hosts, &t.kind, &t.name) {
            (Some(sel), None, None) => self.check_selector(sel, &with(at, key("hosts"))),
            (None, Some(k), Some(n)) if !k.is_empty() && !n.is_empty() => Ok(()),
            _ => Err(problem(
                at,
                "give either `hosts:` or both `kind:` and `name:`",
            )),
        }
    }

    pub(super) fn check_timeline(&self, file: &ScenarioFile) -> Checked {
        let mut claims: BTreeSet<&str> = file
            .timeline
            .iter()
            .filter_map(|s| match s {
                Step::Apply(o) => Some(o.objects.iter()),
                _ => None,
            })
            .flatten()
            .filter(|o| o.get("kind").and_then(|k| k.as_str()) == Some("HostClaim"))
            .filter_map(|o| o.pointer("/metadata/name").and_then(|n| n.as_str()))
            .collect();
        let mut faults: BTreeSet<String> = BTreeSet::new();
        for (i, step) in file.timeline.iter().enumerate() {
            let at = [key("timeline"), Seg::Index(i), key(step.keyword())];
            match step {
                Step::Register(r) => {
                    self.check_selector(&r.hosts, &with(&at, key("hosts")))?;
                    if r.patch.as_ref().is_some_and(|p| !p.is_object()) {
                        return Err(problem(
                            &with(&at, key("patch")),
                            "patch must be a mapping (a merge patch)",
                        ));
                    }
                    if r.password.as_deref() == Some("") {
                        return Err(problem(
                            &with(&at, key("password")),
                            "password must not be empty",
                        ));
                    }
                }
                Step::Apply(_) => {}
                Step::Patch(p) => {
                    self.check_target(&p.target(), &at)?;
                    let ok = match p.patch_type {
                        super::super::format::PatchType::Merge => p.patch.is_object(),
                        super::super::format::PatchType::Json => p.patch.is_array(),
                    };
                    if !ok {
                        return Err(problem(
                            &with(&at, key("patch")),
                            "a merge patch is a mapping, a json patch a list of operations",
                        ));
                    }
                }
                Step::Annotate(m) | Step::Label(m) => {
                    self.check_selector(&m.hosts, &with(&at, key("hosts")))?;
                    if m.set.is_empty() && m.remove.is_empty() {
                        return Err(problem(&at, "nothing to `set:` or `remove:`"));
                    }
                }
                Step::Delete(t) => self.check_target(t, &at)?,
                Step::CreateClaim(c) => {
                    if !valid_name(&c.name) {
                        return Err(problem(
                            &with(&at, key("name")),
                            format!("{:?} is not a valid object name", c.name),
                        ));
                    }
                    claims.insert(&c.name);
                }
                Step::DeleteClaim(c) => {
                    if !claims.contains(c.name.as_str()) {
                        return Err(problem(
                            &with(&at, key("name")),
                            format!("no claim {:?} is created before this step", c.name),
                        ));
                    }
                }
                Step::ScalePool(s) => {
                    if !valid_name(&s.name) {
                        return Err(problem(
                            &with(&at, key("name")),
                            format!("{:?} is not a valid object name", s.name),
                        ));
                    }
                }
                Step::RestartOperator(r) => {
                    if let Some(m) = &r.mid_reconcile {
                        self.check_selector(
                            &HostSelector::Names(vec![m.host.clone()]),
                            &with(&with(&at, key("mid_reconcile")), key("host")),
                        )?;
                    }
                }
                Step::InjectFault(f) => {
                    let name = f.name.clone().unwrap_or_else(|| format!("fault-{}", i + 1));
                    self.check_fault(f, &at)?;
                    if f.duration.is_none() && !faults.insert(name.clone()) {
                        return Err(problem(
                            &at,
                            format!("a fault named {name:?} is already injected"),
                        ));
                    }
                }
                Step::ClearFault(c) => match (&c.name, c.all) {
                    (Some(n), false) => {
                        if !faults.remove(n) {
                            return Err(problem(
                                &with(&at, key("name")),
                                format!(
                                    "no fault named {n:?} is active here (faults with `for:` clear themselves)"
                                ),
                            ));
                        }
                    }
                    (None, true) => faults.clear(),
                    _ => return Err(problem(&at, "give either `name:` or `all: true`")),
                },
                Step::Advance(span) => {
                    if span.0.is_zero() {
                        return Err(problem(&at, "advance by a positive duration"));
                    }
                }
                Step::Wait(w) => {
                    if w.within.0.is_zero() {
                        return Err(problem(
                            &with(&at, key("within")),
                            "the deadline must be positive",
                        ));
                    }
                    self.check_condition(&w.until, &with(&at, key("until")))?;
                }
                Step::Assert(c) => self.check_condition(c, &at)?,
            }
        }
        Ok(())
    }

    fn check_fault(&self, f: &InjectFault, at: &[Seg]) -> Checked {
        if f.target().is_none() {
            return Err(problem(
                at,
                "a fault needs exactly one of `bmc:`, `ironic:`, `agent:`, `control_plane:`",
            ));
        }
        if f.duration.is_some_and(|d| d.0.is_zero()) {
            return Err(problem(
                &with(at, key("for")),
                "`for` must be a positive duration",
            ));
        }
        self.check_selector(&f.hosts, &with(at, key("hosts")))?;
        if let Some(b) = &f.bmc {
            let set = b.fault_set(metal_sim::machine::SimTime::ZERO, None);
            if set.is_empty() {
                return Err(problem(&with(at, key("bmc")), "the BMC fault sets nothing"));
            }
            set.validate()
                .map_err(|e| problem(&with(at, key("bmc")), e.to_string()))?;
        }
        if let Some(x) = &f.ironic {
            if !(0.0..=1.0).contains(&x.http_5xx_rate) {
                return Err(problem(
                    &with(at, key("ironic")),
                    format!("http_5xx_rate must be in [0, 1], got {}", x.http_5xx_rate),
                ));
            }
            if x.http_5xx_rate == 0.0 && !x.database_lost {
                return Err(problem(
                    &with(at, key("ironic")),
                    "the Ironic fault sets nothing (http_5xx_rate above 0, or database_lost: true)",
                ));
            }
            if x.status.is_some_and(|s| !(500..=599).contains(&s)) {
                return Err(problem(
                    &with(at, key("ironic")),
                    "status must be within 500..=599",
                ));
            }
        }
        if f.agent.as_ref().is_some_and(|a| !a.heartbeat_loss) {
            return Err(problem(
                &with(at, key("agent")),
                "the agent fault sets nothing (heartbeat_loss: true)",
            ));
        }
        if f.control_plane
            .as_ref()
            .is_some_and(|c| !c.watch_disconnect)
        {
            return Err(problem(
                &with(at, key("control_plane")),
                "the control-plane fault sets nothing (watch_disconnect: true)",
            ));
        }
        Ok(())
    }

    fn check_condition(&self, c: &Condition, at: &[Seg]) -> Checked {
        let host_fields = c.state.is_some()
            || c.operational_status.is_some()
            || c.error_type.is_some()
            || c.powered_on.is_some()
            || c.gone.is_some()
            || c.at_least.is_some();
        match (&c.hosts, &c.claim, &c.pool) {
            (Some(sel), None, None) => {
                self.check_selector(sel, &with(at, key("hosts")))?;
                if !host_fields {
                    return Err(problem(
                        at,
                        "say what the hosts must be: state, operational_status, error_type, powered_on or gone",
                    ));
                }
                if c.bound.is_some() || !c.reason.is_empty() || c.ready.is_some() {
                    return Err(problem(
                        at,
                        "`bound` and `reason` go with `claim`, `ready` with `pool`",
                    ));
                }
                if let Some(n) = c.at_least {
                    let count = self
                        .fleet
                        .hosts()
                        .iter()
                        .filter(|h| sel.matches(&h.name, &h.labels))
                        .count();
                    if n == 0 || n as usize > count {
                        return Err(problem(
                            &with(at, key("at_least")),
                            format!("at_least must be 1..={count} (the hosts selected)"),
                        ));
                    }
                }
                if let Some(s) = &c.state {
                    check_state(s, &with(at, key("state")))?;
                }
                if let Some(s) = &c.operational_status {
                    check_operational_status(s, &with(at, key("operational_status")))?;
                }
                if let Some(s) = &c.error_type {
                    check_error_type(s, &with(at, key("error_type")))?;
                }
                Ok(())
            }
            (None, Some(_), None)
                if !host_fields
                    && c.ready.is_none()
                    && (c.bound.is_some() || !c.reason.is_empty()) =>
            {
                for (i, r) in c.reason.iter().enumerate() {
                    if !bound_reason::ALL.contains(&r.as_str()) {
                        return Err(problem(
                            &with(&with(at, key("reason")), Seg::Index(i)),
                            format!(
                                "unknown reason {r:?} (a claim's Bound condition says one of: {})",
                                bound_reason::ALL.join(", ")
                            ),
                        ));
                    }
                }
                Ok(())
            }
            (None, None, Some(_))
                if !host_fields
                    && c.bound.is_none()
                    && c.reason.is_empty()
                    && c.ready.is_some() =>
            {
                Ok(())
            }
            _ => Err(problem(
                at,
                "a condition is about `hosts:` (with state, …), a `claim:` (with bound or reason) or a `pool:` (with ready)",
            )),
        }
    }

    pub(super) fn check_expectations(&self, file: &ScenarioFile) -> Checked {
        for (i, h) in file.expect.hosts.iter().enumerate() {
            let at = [key("expect"), key("hosts"), Seg::Index(i)];
            self.check_selector(&h.hosts, &with(&at, key("hosts")))?;
            for (field, states) in [
                ("sequence", h.sequence.as_deref().unwrap_or(&[])),
                ("visits", h.visits.as_deref().unwrap_or(&[])),
                ("never", &h.never[..]),
            ] {
                for s in states {
                    check_state(s, &with(&at, key(field)))?;
                }
            }
            if h.sequence.as_ref().is_some_and(Vec::is_empty) {
                return Err(problem(&with(&at, key("sequence")), "empty sequence"));
            }
            if let Some(s) = &h.final_state {
                check_state(s, &with(&at, key("final")))?;
            }
            if let Some(s) = &h.final_operational_status {
                check_operational_status(s, &with(&at, key("final_operational_status")))?;
            }
            for e in &h.error_types {
                check_error_type(e, &with(&at, key("error_types")))?;
            }
            if let Some(e) = &h.final_error_type {
                check_error_type(e, &with(&at, key("final_error_type")))?;
            }
        }
        for (i, e) in file.expect.events.iter().enumerate() {
            let at = [key("expect"), key("events"), Seg::Index(i)];
            if let Some(sel) = &e.hosts {
                self.check_selector(sel, &with(&at, key("hosts")))?;
            }
            if e.reason.is_empty() {
                return Err(problem(&with(&at, key("reason")), "empty reason"));
            }
            if let Some(t) = &e.event_type
                && t != "Normal"
                && t != "Warning"
            {
                return Err(problem(
                    &with(&at, key("type")),
                    format!("event type {t:?} is neither Normal nor Warning"),
                ));
            }
        }
        for (i, c) in file.expect.calls.iter().enumerate() {
            let at = [key("expect"), key("calls"), Seg::Index(i)];
            self.check_selector(&c.hosts, &with(&at, key("hosts")))?;
            if CallKind::parse(&c.action).is_none() {
                let known: Vec<&str> = CallKind::ALL.iter().map(|a| a.as_str()).collect();
                return Err(problem(
                    &with(&at, key("action")),
                    format!(
                        "unknown action {:?} (known: {})",
                        c.action,
                        known.join(", ")
                    ),
                ));
            }
            let bounded = c.at_least.is_some() || c.at_most.is_some();
            if c.exactly.is_some() == bounded {
                return Err(problem(
                    &at,
                    "give either `exactly:` or `at_least:`/`at_most:`",
                ));
            }
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

fn check_state(s: &str, at: &[Seg]) -> Checked {
    if ProvisioningState::parse(s).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = ProvisioningState::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    Err(problem(
        at,
        format!(
            "unknown provisioning state {s:?} (known: {})",
            known.join(", ")
        ),
    ))
}

fn check_operational_status(s: &str, at: &[Seg]) -> Checked {
    if OperationalStatus::ALL.iter().any(|o| o.as_str() == s) {
        return Ok(());
    }
    let known: Vec<&str> = OperationalStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    Err(problem(
        at,
        format!(
            "unknown operational status {s:?} (known: {})",
            known.join(", ")
        ),
    ))
}

fn check_error_type(s: &str, at: &[Seg]) -> Checked {
    if s == "none" || ErrorType::ALL.iter().any(|e| e.as_str() == s) {
        return Ok(());
    }
    let known: Vec<&str> = ErrorType::ALL.iter().map(|e| e.as_str()).collect();
    Err(problem(
        at,
        format!(
            "unknown error type {s:?} (known: none, {})",
            known.join(", ")
        ),
    ))
}
