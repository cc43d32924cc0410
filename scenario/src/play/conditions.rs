//! Whether a `wait` or `assert` condition holds on a backend's views, and the one-line form of a
//! step the trace records.

use super::backend::HostConditionView;
use crate::format::{Condition, Step};

/// Whether the hosts `names` (with their `views`, in the same order) meet condition `c`; `Err`
/// says how many match and what the first few that do not are instead. `absent` is what a host
/// without a view is said to be.
pub(super) fn hosts_hold(
    names: &[String],
    views: &[Option<HostConditionView>],
    c: &Condition,
    absent: &str,
) -> Result<(), String> {
    let mut off = Vec::new();
    let mut matching = 0usize;
    for (name, view) in names.iter().zip(views) {
        let why = match view {
            None if c.gone == Some(true) => None,
            None => Some(absent.to_owned()),
            Some(v) => mismatch(c, v),
        };
        match why {
            None => matching += 1,
            Some(w) => off.push(format!("{name} {w}")),
        }
    }
    let needed = c.at_least.map_or(names.len(), |n| n as usize);
    if matching >= needed {
        return Ok(());
    }
    let more = if off.len() > 5 {
        format!(" and {} more", off.len() - 5)
    } else {
        String::new()
    };
    let shown: Vec<String> = off.into_iter().take(5).collect();
    Err(format!(
        "{matching} of {} hosts match (need {needed}); {}{more}",
        names.len(),
        shown.join("; ")
    ))
}

/// What about `v` does not meet `c` (`None`: it does).
fn mismatch(c: &Condition, v: &HostConditionView) -> Option<String> {
    if let Some(gone) = c.gone {
        if gone != v.gone {
            return Some(if v.gone { "is gone" } else { "still exists" }.into());
        }
        if gone {
            return None;
        }
    }
    if let Some(s) = &c.state
        && &v.state != s
    {
        return Some(format!("is {:?}", v.state));
    }
    if let Some(s) = &c.operational_status
        && &v.operational_status != s
    {
        return Some(format!("has operational status {:?}", v.operational_status));
    }
    if let Some(e) = &c.error_type {
        let got = v.error_type.as_deref().unwrap_or("none");
        if got != e {
            return Some(format!("has error type {got:?}"));
        }
    }
    if let Some(p) = c.powered_on
        && v.powered_on != Some(p)
    {
        return Some(match v.powered_on {
            Some(on) => format!("has poweredOn {on}"),
            None => "has no poweredOn yet".to_owned(),
        });
    }
    None
}

/// A step as one line of JSON, cut at 120 characters.
pub fn one_line(step: &Step) -> String {
    let mut value = serde_json::to_value(step).unwrap_or_default();
    redact(&mut value);
    let s = value.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}

/// Keys whose values are credentials or Secret contents: a trace line (and so a trace file, a
/// report, a log) shows them as `<redacted>`.
const REDACTED_KEYS: [&str; 3] = ["password", "stringData", "data"];

fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if REDACTED_KEYS.contains(&key.as_str()) && !v.is_null() {
                    *v = serde_json::Value::String("<redacted>".into());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Patch, PatchType};

    #[test]
    fn a_step_that_writes_a_password_is_summarised_without_it() {
        let secret = Step::Patch(Patch {
            hosts: None,
            kind: Some("Secret".into()),
            name: Some("h-0-bmc-secret".into()),
            namespace: None,
            patch_type: PatchType::Merge,
            patch: serde_json::json!({"stringData": {"password": "hunter2-hunter2"}}),
        });
        let register: Step = serde_json::from_value(
            serde_json::json!({"register": {"hosts": "all", "password": "s3cret-s3cret"}}),
        )
        .unwrap();
        let (a, b) = (one_line(&secret), one_line(&register));
        assert!(!a.contains("hunter2") && a.contains("<redacted>"), "{a}");
        assert!(!b.contains("s3cret") && b.contains("<redact"), "{b}");
        assert!(a.contains("h-0-bmc-secret"), "{a}");
    }
}
