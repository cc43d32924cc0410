//! Whether a `wait` or `assert` condition on hosts holds in the engine's world.

use super::Player;
use crate::scenario::format::{Condition, HostSelector};

pub(super) fn hosts_hold(p: &Player<'_>, sel: &HostSelector, c: &Condition) -> Result<(), String> {
    let names = p.scenario.host_names(sel);
    let mut off = Vec::new();
    let mut matching = 0usize;
    for name in &names {
        let why = match p.engine.host(&p.key(name)) {
            None if c.gone == Some(true) => None,
            None => Some("does not exist".to_owned()),
            Some(h) => mismatch(c, h),
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

fn mismatch(c: &Condition, h: &metal_core::api::BareMetalHost) -> Option<String> {
    if c.gone == Some(true) {
        return Some("still exists".into());
    }
    let st = h.status.clone().unwrap_or_default();
    if let Some(s) = &c.state
        && st.provisioning.state.as_str() != s
    {
        return Some(format!("is {:?}", st.provisioning.state.as_str()));
    }
    if let Some(s) = &c.operational_status
        && st.operational_status.as_str() != s
    {
        return Some(format!(
            "has operational status {:?}",
            st.operational_status.as_str()
        ));
    }
    if let Some(e) = &c.error_type {
        let got = st.error_type.map_or("none", |t| t.as_str());
        if got != e {
            return Some(format!("has error type {got:?}"));
        }
    }
    if let Some(p) = c.powered_on
        && st.powered_on != p
    {
        return Some(format!("has poweredOn {}", st.powered_on));
    }
    None
}
