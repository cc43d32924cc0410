//! The scenario trace's view of engine records: host states, status and facts, Events, the
//! Ironic / Redfish / IPMI / agent calls with the actions the invariants count, and machine
//! changes. Engine-only facts (Ironic node states, commands) have no scenario event type.

use super::trace::{TraceEntry, TraceRecord};
use crate::scenario::trace::{Action, Happening, MachineChange, Protocol};

/// The BareMetalHost name of a `namespace/name` key (fleet host names pass through).
fn bare(host: &str) -> String {
    host.rsplit('/').next().unwrap_or(host).to_owned()
}

fn status_in(result: &str) -> Option<u16> {
    let code = result.split("returned code ").nth(1)?;
    code.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The scenario trace's view of one engine record (`None` for records it has no type for).
pub fn happening(r: &TraceRecord) -> Option<Happening> {
    let host = bare(&r.host);
    Some(match &r.entry {
        TraceEntry::Transition { from, to, cause } => Happening::HostState {
            host,
            from: from.clone(),
            to: to.clone(),
            cause: cause.clone(),
        },
        TraceEntry::Status {
            operational_status,
            error_type,
            error_count,
            powered_on,
        } => Happening::HostStatus {
            host,
            operational_status: operational_status.clone(),
            error_type: error_type.clone(),
            error_count: u32::try_from(*error_count).unwrap_or(0),
            powered_on: Some(*powered_on),
        },
        TraceEntry::Facts {
            online,
            detached,
            inspection_disabled,
            externally_provisioned,
            consumer,
        } => Happening::HostFacts {
            host,
            online: *online,
            detached: *detached,
            inspection_disabled: *inspection_disabled,
            externally_provisioned: *externally_provisioned,
            consumer: consumer.clone(),
        },
        TraceEntry::Deleted => Happening::HostGone { host },
        TraceEntry::Event {
            event_type,
            reason,
            message,
        } => Happening::Event {
            object: format!("BareMetalHost/{host}"),
            host: Some(host),
            reason: reason.clone(),
            event_type: event_type.clone(),
            message: message.clone(),
        },
        TraceEntry::Provisioner {
            action,
            detail,
            status,
            ..
        } => {
            let (method, target, act) = ironic_call(action, detail.as_deref());
            Happening::Call {
                host: Some(host),
                protocol: Protocol::Ironic,
                method: method.to_owned(),
                target: target.to_owned(),
                status: *status,
                action: act,
            }
        }
        TraceEntry::Bmc {
            protocol,
            op,
            result,
        } => {
            let protocol = if protocol == "ipmi" {
                Protocol::Ipmi
            } else {
                Protocol::Redfish
            };
            let ok = !result.starts_with("error");
            let status = match (ok, protocol) {
                (true, Protocol::Ipmi) => Some(0),
                (true, _) => Some(200),
                (false, _) => status_in(result),
            };
            Happening::Call {
                host: Some(host),
                protocol,
                method: op.clone(),
                target: "system".into(),
                status,
                action: bmc_action(op),
            }
        }
        TraceEntry::Agent { what, result } => {
            let protocol = match what.as_str() {
                "lookup" | "heartbeat" | "continue_inspection" => Protocol::Ironic,
                _ => Protocol::Agent,
            };
            let status = match result.as_str() {
                "ok" => Some(200),
                "accepted" | "resumed" => Some(202),
                r if r.starts_with("found") => Some(200),
                r => r.get(..3).and_then(|c| c.parse().ok()),
            };
            Happening::Call {
                host: Some(host),
                protocol,
                method: what.clone(),
                target: "agent".into(),
                status,
                action: None,
            }
        }
        TraceEntry::Machine { change, .. } => Happening::Machine {
            host,
            change: match change.as_str() {
                "powered_on" => MachineChange::PoweredOn,
                "powered_off" => MachineChange::PoweredOff,
                "booted_ramdisk" => MachineChange::BootedRamdisk,
                "booted_disk" => MachineChange::BootedDisk,
                "image_written" => MachineChange::ImageWritten,
                "disks_wiped" => MachineChange::DisksWiped,
                _ => return None,
            },
        },
        TraceEntry::Node { .. } | TraceEntry::Command { .. } => return None,
    })
}

fn ironic_call(action: &str, detail: Option<&str>) -> (&'static str, &'static str, Option<Action>) {
    const PROVISION: &str = "/v1/nodes/{node}/states/provision";
    match action {
        "register" if detail == Some("create") => ("POST", "/v1/nodes", Some(Action::Enroll)),
        "register" | "automated_clean" => ("PATCH", "/v1/nodes/{node}", None),
        "manage" => ("PUT", PROVISION, Some(Action::Manage)),
        "inspect" => ("PUT", PROVISION, Some(Action::Inspect)),
        "provide" => ("PUT", PROVISION, Some(Action::Provide)),
        "deploy" => ("PUT", PROVISION, Some(Action::Deploy)),
        "undeploy" => ("PUT", PROVISION, Some(Action::Undeploy)),
        "adopt" => ("PUT", PROVISION, Some(Action::Adopt)),
        "abort" => ("PUT", PROVISION, Some(Action::Abort)),
        "power" => {
            let act = match detail {
                Some("power on") => Some(Action::PowerOn),
                Some("power off" | "soft power off") => Some(Action::PowerOff),
                Some(_) => Some(Action::Reboot),
                None => None,
            };
            ("PUT", "/v1/nodes/{node}/states/power", act)
        }
        "maintenance" => ("PUT", "/v1/nodes/{node}/maintenance", None),
        "detach" | "delete" => ("DELETE", "/v1/nodes/{node}", Some(Action::DeleteNode)),
        _ => ("GET", "/v1/nodes/{node}", None),
    }
}

fn bmc_action(op: &str) -> Option<Action> {
    match op {
        "SetPower(On)" => Some(Action::PowerOn),
        "SetPower(Off)" | "SetPower(SoftOff)" => Some(Action::PowerOff),
        "SetPower(Rebooting)" | "SetPower(SoftRebooting)" => Some(Action::Reboot),
        o if o.starts_with("SetBootDevice") => Some(Action::SetBootDevice),
        _ => None,
    }
}
