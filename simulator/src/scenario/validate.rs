//! What serde cannot check in a scenario: names that must exist, states that must be real, one
//! target per fault, deadlines that are positive. Each problem carries the path of the offending
//! value so [`super::outline`] can put a line and column on it.

use std::collections::BTreeSet;
use std::path::Path;

use metal_core::api::{ErrorType, OperationalStatus, ProvisioningState};

use super::format::{
    Condition, FleetSource, HostSelector, InjectFault, IronicChoice, Mode, Objects, ScenarioFile,
    Step, Target,
};
use super::outline::{Outline, Seg, key};
use super::trace::Action;
use super::{Lines, Scenario, ScenarioError};
use crate::fleet::{Fleet, FleetError};

/// A content error before it is placed in the text.
struct Problem {
    path: Vec<Seg>,
    message: String,
}

type Checked = Result<(), Problem>;

fn problem(path: &[Seg], message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_vec(),
        message: message.into(),
    }
}

fn with(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

pub(super) fn validate(
    mut file: ScenarioFile,
    text: &str,
    source: &str,
    dir: &Path,
) -> Result<Scenario, ScenarioError> {
    let outline = Outline::new(text);
    let place = |p: Problem| {
        let (line, column) = outline.locate(&p.path);
        ScenarioError::Invalid {
            file: source.to_string(),
            line,
            column,
            message: p.message,
        }
    };
    check_header(&file).map_err(place)?;
    let fleet = load_fleet(&file, text, source, dir)?;
    let ctx = Context { fleet: &fleet };
    load_objects(&mut file, dir).map_err(|e| match e {
        Loaded::Problem(p) => place(p),
        Loaded::Error(e) => e,
    })?;
    ctx.check_timeline(&file).map_err(place)?;
    ctx.check_expectations(&file).map_err(place)?;
    let items = |path: &[Seg], n: usize| -> Vec<usize> {
        (0..n)
            .map(|i| outline.locate(&with(path, Seg::Index(i))).0)
            .collect()
    };
    let lines = Lines {
        steps: items(&[key("timeline")], file.timeline.len()),
        expect_hosts: items(&[key("expect"), key("hosts")], file.expect.hosts.len()),
        expect_events: items(&[key("expect"), key("events")], file.expect.events.len()),
        expect_calls: items(&[key("expect"), key("calls")], file.expect.calls.len()),
        invariants: outline.locate(&[key("invariants")]).0,
    };
    Ok(Scenario {
        file,
        source: source.to_string(),
        fleet,
        lines,
    })
}

fn check_header(file: &ScenarioFile) -> Checked {
    if file.name.is_empty()
        || !file
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(problem(
            &[key("name")],
            format!(
                "scenario name {:?} must be letters, digits, '-' or '_'",
                file.name
            ),
        ));
    }
    let modes: BTreeSet<Mode> = file.modes.iter().copied().collect();
    if modes.is_empty() || modes.len() != file.modes.len() {
        return Err(problem(
            &[key("modes")],
            "modes must list engine and/or wire, each once",
        ));
    }
    if let Some(scale) = file.time_scale
        && !(scale.is_finite() && scale >= 0.0)
    {
        return Err(problem(
            &[key("time_scale")],
            format!("time_scale must be a number ≥ 0, got {scale}"),
        ));
    }
    if let IronicChoice::External(url) = &file.ironic {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(problem(
                &[key("ironic")],
                format!("external Ironic URL {url:?} must start with http:// or https://"),
            ));
        }
        if modes.contains(&Mode::Engine) {
            return Err(problem(
                &[key("ironic")],
                "an external Ironic only exists in wire mode: add `modes: [wire]`",
            ));
        }
    }
    if file.operator.provisioning_limit == 0 {
        return Err(problem(
            &[key("operator"), key("provisioning_limit")],
            "provisioning_limit must be at least 1",
        ));
    }
    if file.invariants.max_busy == Some(0) {
        return Err(problem(
            &[key("invariants"), key("max_busy")],
            "max_busy must be at least 1",
        ));
    }
    if file.timeline.is_empty() {
        return Err(problem(&[key("timeline")], "the timeline has no steps"));
    }
    Ok(())
}

/// Loads the fleet (file or inline), applying the scenario's seed and time scale.
fn load_fleet(
    file: &ScenarioFile,
    text: &str,
    source: &str,
    dir: &Path,
) -> Result<Fleet, ScenarioError> {
    let fleet = match &file.fleet {
        FleetSource::File(p) => Fleet::load(&dir.join(p))?,
        FleetSource::Inline(value) => parse_inline_fleet(value, text, source)?,
    };
    let mut fleet_file = fleet.file.clone();
    fleet_file.seed = file.seed;
    if let Some(scale) = file.time_scale {
        fleet_file.time_scale = scale;
    }
    Ok(Fleet::from_file(fleet_file, &fleet.source)?)
}

/// Parses an inline fleet from its own lines of the scenario, so its errors point into the file.
fn parse_inline_fleet(
    value: &serde_json::Value,
    text: &str,
    source: &str,
) -> Result<Fleet, ScenarioError> {
    let lines: Vec<&str> = text.lines().collect();
    let key_line = lines
        .iter()
        .position(|l| l.starts_with("fleet:") && l["fleet:".len()..].trim().is_empty());
    let Some(key_line) = key_line else {
        // Flow style (`fleet: {...}`): parse a re-serialised copy; errors point at the key.
        let at = lines
            .iter()
            .position(|l| l.starts_with("fleet:"))
            .map_or(1, |i| i + 1);
        let yaml = serde_yaml::to_string(value).map_err(|e| ScenarioError::Invalid {
            file: source.to_string(),
            line: at,
            column: 1,
            message: e.to_string(),
        })?;
        return Fleet::parse(&yaml, source).map_err(|e| match e {
            FleetError::Invalid { message, .. } => ScenarioError::Invalid {
                file: source.to_string(),
                line: at,
                column: 8,
                message,
            },
            other => other.into(),
        });
    };
    let body: Vec<&str> = lines[key_line + 1..]
        .iter()
        .take_while(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || l.starts_with([' ', '\t'])
        })
        .copied()
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    let block: String = body
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect();
    Fleet::parse(&block, source).map_err(|e| match e {
        FleetError::Invalid {
            file,
            line,
            column,
            message,
        } => ScenarioError::Invalid {
            file,
            line: line + key_line + 1,
            column: column + indent,
            message,
        },
        other => other.into(),
    })
}

enum Loaded {
    Problem(Problem),
    Error(ScenarioError),
}

/// Reads the files of `apply` steps into their `objects` and checks every object's shape.
fn load_objects(file: &mut ScenarioFile, dir: &Path) -> Result<(), Loaded> {
    for (i, step) in file.timeline.iter_mut().enumerate() {
        let Step::Apply(objects) = step else { continue };
        let at = [key("timeline"), Seg::Index(i), key("apply")];
        if objects.file.is_none() && objects.objects.is_empty() {
            return Err(Loaded::Problem(problem(
                &at,
                "apply needs `file:` or `objects:`",
            )));
        }
        for (n, o) in objects.objects.iter().enumerate() {
            check_object(o).map_err(|m| {
                Loaded::Problem(problem(&with(&with(&at, key("objects")), Seg::Index(n)), m))
            })?;
        }
        if let Some(path) = &objects.file {
            let full = dir.join(path);
            let shown = full.display().to_string();
            let text = std::fs::read_to_string(&full).map_err(|source| {
                Loaded::Error(ScenarioError::Read {
                    file: shown.clone(),
                    source,
                })
            })?;
            load_documents(objects, &text, &shown).map_err(Loaded::Error)?;
        }
    }
    Ok(())
}

fn load_documents(objects: &mut Objects, text: &str, shown: &str) -> Result<(), ScenarioError> {
    use serde::Deserialize as _;
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(doc).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            ScenarioError::Invalid {
                file: shown.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        if value.is_null() {
            continue;
        }
        check_object(&value).map_err(|message| ScenarioError::Invalid {
            file: shown.to_string(),
            line: 1,
            column: 1,
            message,
        })?;
        objects.objects.push(value);
    }
    Ok(())
}

fn check_object(o: &serde_json::Value) -> Result<(), String> {
    let field = |name: &str| o.get(name).and_then(|v| v.as_str()).unwrap_or("");
    if field("apiVersion").is_empty() || field("kind").is_empty() {
        return Err("every object needs apiVersion and kind".into());
    }
    let named = o
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .is_some_and(|n| !n.is_empty());
    if !named {
        return Err(format!("{} object without metadata.name", field("kind")));
    }
    Ok(())
}

struct Context<'a> {
    fleet: &'a Fleet,
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

    fn check_timeline(&self, file: &ScenarioFile) -> Checked {
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
                        super::format::PatchType::Merge => p.patch.is_object(),
                        super::format::PatchType::Json => p.patch.is_array(),
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
                Step::RestartOperator(_) => {}
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
            let set = b.fault_set(crate::machine::SimTime::ZERO, None);
            if set.is_empty() {
                return Err(problem(&with(at, key("bmc")), "the BMC fault sets nothing"));
            }
            set.validate()
                .map_err(|e| problem(&with(at, key("bmc")), e.to_string()))?;
        }
        if let Some(x) = &f.ironic {
            if !(x.http_5xx_rate > 0.0 && x.http_5xx_rate <= 1.0) {
                return Err(problem(
                    &with(at, key("ironic")),
                    format!("http_5xx_rate must be in (0, 1], got {}", x.http_5xx_rate),
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
                if c.bound.is_some() || c.ready.is_some() {
                    return Err(problem(
                        at,
                        "`bound` goes with `claim`, `ready` with `pool`",
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
            (None, Some(_), None) if !host_fields && c.ready.is_none() && c.bound.is_some() => {
                Ok(())
            }
            (None, None, Some(_)) if !host_fields && c.bound.is_none() && c.ready.is_some() => {
                Ok(())
            }
            _ => Err(problem(
                at,
                "a condition is about `hosts:` (with state, …), a `claim:` (with bound) or a `pool:` (with ready)",
            )),
        }
    }

    fn check_expectations(&self, file: &ScenarioFile) -> Checked {
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
            if Action::parse(&c.action).is_none() {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
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
