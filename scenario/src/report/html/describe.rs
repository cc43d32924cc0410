//! A trace line in words, for the page's host rows.

use std::fmt::Write as _;

use super::erased;
use crate::trace::Happening;

/// A trace line as a person reads it (not yet escaped).
pub(super) fn describe(what: &Happening) -> String {
    let snake = |v: &dyn erased::Json| v.line().trim_matches('"').to_owned();
    match what {
        Happening::Step {
            index,
            line,
            keyword,
            summary,
        } => format!("step {} (line {line}) {keyword}: {summary}", index + 1),
        Happening::StepFailed {
            index,
            line,
            reason,
        } => format!("step {} (line {line}) did not hold: {reason}", index + 1),
        Happening::HostState {
            from, to, cause, ..
        } => {
            let from = if from.is_empty() { "(new)" } else { from };
            format!("{from} → {to} (cause: {cause})")
        }
        Happening::HostStatus {
            operational_status,
            error_type,
            error_count,
            powered_on,
            ..
        } => {
            let mut s = if operational_status.is_empty() {
                "status (none yet)".to_owned()
            } else {
                format!("status {operational_status}")
            };
            if let Some(e) = error_type {
                let _ = write!(s, ", error {e:?} (count {error_count})");
            }
            if let Some(on) = powered_on {
                s.push_str(if *on { ", powered on" } else { ", powered off" });
            }
            s
        }
        Happening::HostFacts {
            online,
            detached,
            inspection_disabled,
            externally_provisioned,
            consumer,
            ..
        } => format!(
            "online {online}, detached {detached}, inspection disabled {inspection_disabled}, externally provisioned {externally_provisioned}{}",
            consumer
                .as_deref()
                .map(|c| format!(", consumer {c}"))
                .unwrap_or_default()
        ),
        Happening::HostGone { .. } => "gone".to_owned(),
        Happening::Call {
            protocol,
            method,
            target,
            status,
            action,
            detail,
            ..
        } => {
            let mut s = format!("{} {method} {target}", snake(protocol));
            match status {
                Some(code) => {
                    let _ = write!(s, " → {code}");
                }
                None => s.push_str(" → no answer"),
            }
            if let Some(a) = action {
                let _ = write!(s, " [{}]", a.as_str());
            }
            if let Some(d) = detail {
                let _ = write!(s, " {d}");
            }
            s
        }
        Happening::Event {
            object,
            reason,
            event_type,
            message,
            ..
        } => format!("Event {event_type} {reason} on {object}: {message}"),
        Happening::Machine { change, .. } => format!("machine {}", snake(change)),
        Happening::Fault {
            name,
            target,
            hosts,
            active,
        } => format!(
            "fault {name} ({}) {}{}",
            snake(target),
            if *active { "injected" } else { "cleared" },
            if hosts.is_empty() {
                String::new()
            } else {
                format!(" on {}", hosts.join(", "))
            }
        ),
        Happening::Operator { running } => if *running {
            "operator started"
        } else {
            "operator stopped"
        }
        .to_owned(),
        Happening::Claim { claim, host, .. } => match host {
            Some(h) => format!("claim {claim} bound to {h}"),
            None => format!("claim {claim} holds no host"),
        },
        Happening::IronicNode {
            node,
            from,
            to,
            power,
            ..
        } => format!("Ironic node {node}: {from} → {to}, power {power}"),
        Happening::Command { what, .. } => what.clone(),
        Happening::Pool {
            pool,
            replicas,
            ready,
        } => format!("pool {pool}: {ready} of {replicas} ready"),
    }
}
