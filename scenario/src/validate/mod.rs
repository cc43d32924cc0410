//! What serde cannot check in a scenario: names that must exist, states that must be real, one
//! target per fault, deadlines that are positive. Each problem carries the path of the offending
//! value so [`super::outline`] can put a line and column on it.

/// Loading what the file refers to: the fleet (path or inline) and object files.
mod load;
/// The rules: selectors, targets, the timeline, faults, conditions and expectations.
mod rules;

use load::{Loaded, load_fleet, load_objects};
use rules::Context;

use std::collections::BTreeSet;
use std::path::Path;

use super::format::{IronicChoice, Mode, OperatorKind, ScenarioFile};
use super::outline::{Outline, Seg, key};
use super::{Lines, Scenario, ScenarioError};

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
    let scenario = Scenario {
        file,
        source: source.to_string(),
        fleet,
        lines,
    };
    check_operators(&scenario).map_err(place)?;
    Ok(scenario)
}

/// An `operators:` list is not empty and names another operator than ours only when the
/// timeline needs none of our extensions.
fn check_operators(s: &Scenario) -> Checked {
    let Some(list) = &s.file.operators else {
        return Ok(());
    };
    let at = [key("operators")];
    if list.is_empty() {
        return Err(problem(&at, "operators must list ours, bmo and/or command"));
    }
    let needed = s.extensions_needed();
    if let Some(other) = list.iter().find(|k| **k != OperatorKind::Ours)
        && !needed.is_empty()
    {
        return Err(problem(
            &at,
            format!(
                "operator {} cannot play this timeline: it uses our extensions ({})",
                other.as_str(),
                needed.join("; ")
            ),
        ));
    }
    Ok(())
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
    let max_scale = metal_sim::fleet::MAX_TIME_SCALE;
    if let Some(scale) = file.time_scale
        && !(scale.is_finite() && (0.0..=max_scale).contains(&scale))
    {
        return Err(problem(
            &[key("time_scale")],
            format!("time_scale must be a number from 0 to {max_scale}, got {scale}"),
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
