//! The live view's data: one [`Row`] per machine, a pure function of what the machine, its faults
//! and its agent look like at `now`, and the two messages the page receives ([`Snapshot`],
//! [`Changes`]). The page only draws these; every wording is decided here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::agent::Status;
use crate::agent::life::{End, Stage};
use crate::fault::FaultSet;
use crate::guest::{GuestStatus, KubeletState};
use crate::machine::{BootOutcome, MachineView, OverrideMode, PowerState, RamdiskSource, SimTime};

/// What is known of a host's agent (the shell reads it from the launcher and the fault switch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentView {
    /// Where its life is, when an agent runs on the host.
    pub stage: Option<Stage>,
    /// The last command Ironic sent it: name and status.
    pub last_command: Option<(String, Status)>,
    /// Whether its heartbeats are lost (the control API's agent fault).
    pub heartbeat_loss: bool,
}

/// Everything one row is computed from.
#[derive(Debug, Clone, Copy)]
pub struct HostInput<'a> {
    /// Index in the world.
    pub index: usize,
    /// Host name.
    pub name: &'a str,
    /// BMC protocol (`redfish`, `redfish-virtualmedia`, `ipmi`).
    pub protocol: &'a str,
    /// `spec.bmc.address`.
    pub address: &'a str,
    /// The machine at `now`.
    pub machine: &'a MachineView,
    /// Its fault settings.
    pub faults: &'a FaultSet,
    /// Its agent.
    pub agent: &'a AgentView,
    /// What its disk booted into, when it booted one since `serve` started.
    pub guest: Option<&'a GuestStatus>,
    /// The simulated time the row describes.
    pub now: SimTime,
}

/// One machine as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Index in the world (the page's key).
    pub i: usize,
    /// Host name.
    pub name: String,
    /// The group the page counts it in (see [`state`]).
    pub state: &'static str,
    /// Power state (Redfish spelling).
    pub power: &'static str,
    /// Boot mode and what decides the next boot: `UEFI · override Pxe (Once)`, `UEFI · order Hdd, Pxe`.
    pub boot: String,
    /// What it is booting now: `PXE from 00:…`, `virtual media Cd: URL`, `disk sda: URL`; empty
    /// when off.
    pub booting: String,
    /// Its agent: `none`, or its stage and last command.
    pub agent: String,
    /// Each disk and what is on it.
    pub disks: String,
    /// BIOS attributes waiting for the next reset (`Name=value`), empty when none.
    pub bios: String,
    /// BMC address (`spec.bmc.address`, which names the protocol), with the protocol in front
    /// when it does not.
    pub bmc: String,
    /// Active faults, one phrase each.
    pub faults: Vec<String>,
    /// The OS booted from disk: cloud-init and the kubelet of a node image; empty for other images.
    pub guest: String,
}

/// The groups, in the order the page lists them.
pub const STATES: [&str; 9] = [
    "off",
    "powering-on",
    "powering-off",
    "stuck",
    "ramdisk",
    "disk",
    "bios-setup",
    "no-boot-device",
    "on",
];

/// The group of a machine: its power transition, or once on, what it booted.
pub fn state(m: &MachineView) -> &'static str {
    match m.power {
        _ if m.stuck => "stuck",
        PowerState::Off => "off",
        PowerState::PoweringOn => "powering-on",
        PowerState::PoweringOff => "powering-off",
        PowerState::On => match m.last_boot.as_ref().map(|b| &b.outcome) {
            Some(BootOutcome::Ramdisk { .. }) => "ramdisk",
            Some(BootOutcome::Disk { .. }) => "disk",
            Some(BootOutcome::BiosSetup) => "bios-setup",
            Some(BootOutcome::NoBootableDevice) => "no-boot-device",
            None => "on",
        },
    }
}

/// The row of one host.
pub fn row(h: HostInput<'_>) -> Row {
    let m = h.machine;
    Row {
        i: h.index,
        name: h.name.to_string(),
        state: state(m),
        power: m.power.as_str(),
        boot: boot(m),
        booting: booting(m),
        agent: agent(h.agent),
        disks: disks(m),
        bios: m
            .bios_pending
            .iter()
            .map(|(k, v)| format!("{k}={}", bios_value(v)))
            .collect::<Vec<_>>()
            .join(", "),
        bmc: if h.address.starts_with(h.protocol) {
            h.address.to_string()
        } else {
            format!("{} {}", h.protocol, h.address)
        },
        faults: faults(h.faults, h.agent.heartbeat_loss, m.stuck, h.now),
        guest: h.guest.map(guest).unwrap_or_default(),
    }
}

/// The guest in words: what its kubelet is doing, and what cloud-init could not do.
fn guest(g: &GuestStatus) -> String {
    let kubelet = match &g.kubelet {
        KubeletState::NotANodeImage => return String::new(),
        KubeletState::NoKubeconfig => "no kubelet (cloud-init wrote no kubeconfig)".to_string(),
        KubeletState::Refused { reason } => format!("kubelet refused: {reason}"),
        KubeletState::Registering { node, error: None } => {
            format!("kubelet registering Node {node}")
        }
        KubeletState::Registering {
            node,
            error: Some(e),
        } => format!("kubelet registering Node {node}, retrying: {e}"),
        KubeletState::Running { node } => format!("Node {node} Ready (kubelet running)"),
        KubeletState::Stopped { node, reason } => format!("Node {node}: kubelet stopped, {reason}"),
    };
    let mut out = match &g.hostname {
        Some(h) => format!("{h}: {kubelet}"),
        None => kubelet,
    };
    for note in &g.notes {
        out.push_str("; ");
        out.push_str(note);
    }
    out
}

fn boot(m: &MachineView) -> String {
    let mode = if m.secure_boot {
        format!("{} secure", m.boot_mode.as_str())
    } else {
        m.boot_mode.as_str().to_string()
    };
    if m.boot_override.mode == OverrideMode::Disabled {
        let order: Vec<&str> = m.boot_order.iter().map(|s| s.as_str()).collect();
        format!("{mode} · order {}", order.join(", "))
    } else {
        format!(
            "{mode} · override {} ({})",
            m.boot_override.target.as_str(),
            m.boot_override.mode.as_str()
        )
    }
}

fn booting(m: &MachineView) -> String {
    match m.power {
        PowerState::Off => return String::new(),
        PowerState::PoweringOn => return "power-on self test".to_string(),
        PowerState::On | PowerState::PoweringOff => {}
    }
    let Some(record) = &m.last_boot else {
        return String::new();
    };
    match &record.outcome {
        BootOutcome::Ramdisk { via } => match via {
            RamdiskSource::Pxe { mac } => format!("ramdisk by PXE from {mac}"),
            RamdiskSource::UefiHttp { mac } => format!("ramdisk by UEFI HTTP from {mac}"),
            RamdiskSource::VirtualMedia { slot, image } => {
                format!("ramdisk from virtual media {}: {image}", slot.as_str())
            }
        },
        BootOutcome::Disk { disk, image } => format!("disk {disk}: {image}"),
        BootOutcome::BiosSetup => "firmware setup".to_string(),
        BootOutcome::NoBootableDevice => "no bootable device".to_string(),
    }
}

fn agent(a: &AgentView) -> String {
    let Some(stage) = a.stage else {
        return "none".to_string();
    };
    let stage = match stage {
        Stage::Negotiate { failures: 0 } => "negotiating".to_string(),
        Stage::Negotiate { failures } => format!("negotiating ({failures} failed)"),
        Stage::Lookup { failures: 0, .. } => "looking up".to_string(),
        Stage::Lookup { failures, .. } => format!("looking up ({failures} failed)"),
        Stage::Inspect { .. } => "posting inspection data".to_string(),
        Stage::Heartbeat => "heartbeating".to_string(),
        Stage::Over(end) => format!(
            "stopped: {}",
            match end {
                End::Incompatible => "Ironic too old",
                End::Unreachable => "Ironic unreachable",
                End::LookupGaveUp => "lookup gave up",
                End::Lifetime => "lifetime over",
                End::Misanswered => "misanswered",
            }
        ),
    };
    match &a.last_command {
        None => stage,
        Some((name, status)) => format!("{stage} · {name} {}", status_word(*status)),
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Running => "RUNNING",
        Status::Succeeded => "SUCCEEDED",
        Status::Failed => "FAILED",
        Status::VersionMismatch => "CLEAN_VERSION_MISMATCH",
    }
}

fn disks(m: &MachineView) -> String {
    m.disks
        .iter()
        .map(|d| {
            let what = match (&d.image, d.partition_table) {
                (Some(img), true) => img.url.clone(),
                (Some(img), false) => format!("{} (partition table wiped)", img.url),
                (None, true) => "partitioned, no image".to_string(),
                (None, false) => "empty".to_string(),
            };
            format!("{}: {what}", d.name)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn bios_value(v: &crate::machine::BiosValue) -> String {
    match v {
        crate::machine::BiosValue::Bool(b) => b.to_string(),
        crate::machine::BiosValue::Int(i) => i.to_string(),
        crate::machine::BiosValue::Text(t) => t.clone(),
    }
}

fn seconds(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn percent(rate: f64) -> String {
    format!("{}%", (rate * 100.0).round())
}

/// The faults in effect at `now`, one phrase each (a window not yet open or already closed is
/// left out).
pub fn faults(f: &FaultSet, heartbeat_loss: bool, stuck: bool, now: SimTime) -> Vec<String> {
    let mut out = Vec::new();
    for w in f.unreachable.iter().filter(|w| w.contains(now)) {
        out.push(match w.until {
            Some(until) => format!("BMC unreachable until {}", seconds(until)),
            None => "BMC unreachable".to_string(),
        });
    }
    if f.http_5xx_rate > 0.0 {
        out.push(format!(
            "HTTP {} on {} of requests",
            f.http_5xx_status.unwrap_or(503),
            percent(f.http_5xx_rate)
        ));
    }
    if let Some(l) = f.latency {
        out.push(format!("latency {}–{}", seconds(l.min), seconds(l.max)));
    }
    if f.ipmi_packet_loss > 0.0 {
        out.push(format!("IPMI packet loss {}", percent(f.ipmi_packet_loss)));
    }
    if f.power_ack_no_effect_rate > 0.0 {
        out.push(format!(
            "power actions ignored {}",
            percent(f.power_ack_no_effect_rate)
        ));
    }
    if f.power_stick_rate > 0.0 {
        out.push(format!(
            "power actions stick {}{}",
            percent(f.power_stick_rate),
            if stuck { " (stuck now)" } else { "" }
        ));
    }
    if f.firmware_update_fail_rate > 0.0 {
        out.push(format!(
            "firmware updates fail {}",
            percent(f.firmware_update_fail_rate)
        ));
    }
    for d in &f.degraded {
        out.push(format!("{:?} {} {}", d.part, d.index, d.health.as_str()).to_lowercase());
    }
    if heartbeat_loss {
        out.push("agent heartbeats lost".to_string());
    }
    out
}

/// How many rows are in each group (every group of [`STATES`] present, zero or not).
pub fn counts<'r>(rows: impl IntoIterator<Item = &'r Row>) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = STATES.iter().map(|s| (*s, 0)).collect();
    for r in rows {
        *counts.entry(r.state).or_default() += 1;
    }
    counts
}

/// The first message of a stream, and the one a lagging stream gets: every row.
#[derive(Debug, Serialize)]
pub struct Snapshot<'r> {
    /// Simulated seconds since the fleet started.
    pub now: f64,
    /// The groups, in the order the page lists them.
    pub groups: &'static [&'static str],
    /// Rows per group.
    pub counts: BTreeMap<&'static str, usize>,
    /// Every row, by index.
    pub rows: &'r [Row],
}

/// A later message: the rows that changed since the last one.
#[derive(Debug, Serialize)]
pub struct Changes<'r> {
    /// Simulated seconds since the fleet started.
    pub now: f64,
    /// The changed rows.
    pub rows: &'r [&'r Row],
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
