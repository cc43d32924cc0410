//! Loading what a scenario refers to: its fleet (a path or inline) and its object files.

use std::path::Path;

use super::super::ScenarioError;
use super::super::format::{FleetSource, Objects, ScenarioFile, Step};
use super::super::outline::{Seg, key};
use super::*;
use metal_sim::fleet::{Fleet, FleetError};

/// Loads the fleet (file or inline), applying the scenario's seed and time scale.
pub(super) fn load_fleet(
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

pub(super) enum Loaded {
    Problem(Problem),
    Error(ScenarioError),
}

/// Reads the files of `apply` steps into their `objects` and checks every object's shape.
pub(super) fn load_objects(file: &mut ScenarioFile, dir: &Path) -> Result<(), Loaded> {
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
