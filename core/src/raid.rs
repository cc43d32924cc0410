//! `spec.raid` into Ironic's terms, pure: the node's target RAID configuration (`logical_disks`)
//! and the manual clean steps that apply it, as upstream Metal3 builds them — hardware volumes
//! through the node's RAID interface (`raid.delete_configuration`, then
//! `raid.create_configuration`), software volumes through the agent (`raid.delete_configuration`,
//! `deploy.erase_devices_metadata`, `raid.create_configuration`), nothing when the wanted layout
//! is the one already applied.

use serde_json::{Map, Value, json};

use crate::api::RaidConfig;

/// The RAID interface of drivers without RAID.
pub const NO_RAID: &str = "no-raid";
/// The RAID interface that builds software RAID through the agent.
pub const SOFTWARE_RAID: &str = "agent";

/// What preparing must do for `spec.raid`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaidPlan {
    /// The node's `raid_interface` for this layout.
    pub interface: String,
    /// `PUT /v1/nodes/{id}/states/raid`'s `logical_disks` (empty: none to set).
    pub logical_disks: Vec<Value>,
    /// The clean steps, in order (empty: nothing to do).
    pub steps: Vec<Value>,
}

fn step(interface: &str, name: &str) -> Value {
    json!({"interface": interface, "step": name})
}

fn hardware(c: Option<&RaidConfig>) -> &[crate::api::HardwareRaidVolume] {
    c.and_then(|c| c.hardware_raid_volumes.as_deref())
        .unwrap_or_default()
}

fn software(c: Option<&RaidConfig>) -> &[crate::api::SoftwareRaidVolume] {
    c.and_then(|c| c.software_raid_volumes.as_deref())
        .unwrap_or_default()
}

/// The RAID interface the layout needs, or why the node's driver cannot give it.
pub fn interface(
    raid_interface: &str,
    target: Option<&RaidConfig>,
    actual: Option<&RaidConfig>,
) -> Result<String, String> {
    let Some(t) = target else {
        return Ok(raid_interface.to_owned());
    };
    let wants_hardware = !hardware(Some(t)).is_empty();
    if raid_interface == NO_RAID && wants_hardware {
        return Err(format!(
            "RAID settings are defined, but the node's driver {raid_interface} does not support RAID"
        ));
    }
    if raid_interface == SOFTWARE_RAID && wants_hardware {
        return Err(format!(
            "hardware RAID settings are defined, but the node's driver {raid_interface} only supports software RAID"
        ));
    }
    if !software(Some(t)).is_empty() || !software(actual).is_empty() {
        return Ok(SOFTWARE_RAID.to_owned());
    }
    Ok(raid_interface.to_owned())
}

/// The logical disks for `target`; the first is the root volume unless root device hints are
/// given. Errors name the volume.
pub fn logical_disks(target: Option<&RaidConfig>, root_hints: bool) -> Result<Vec<Value>, String> {
    let mut disks = Vec::new();
    let hw = hardware(target);
    let sw = software(target);
    if !hw.is_empty() {
        let mut names: Vec<(&str, usize)> = Vec::new();
        for (i, v) in hw.iter().enumerate() {
            if let Some(name) = v.name.as_deref().filter(|n| !n.is_empty()) {
                if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
                    return Err(format!(
                        "the names({name}) of volume[{i}] and volume[{first}] are repeated"
                    ));
                }
                names.push((name, i));
            }
            let controller = v.controller.as_deref().filter(|c| !c.is_empty());
            if !v.physical_disks.is_empty() && controller.is_none() {
                return Err("'controller' must be specified if 'physicalDisks' are used".into());
            }
            if let Some(n) = v.number_of_physical_disks
                && !v.physical_disks.is_empty()
                && n != v.physical_disks.len() as i64
            {
                return Err(format!(
                    "the numberOfPhysicalDisks[{n}] is not same as number of items in physicalDisks[{}]",
                    v.physical_disks.len()
                ));
            }
            let mut disk = Map::new();
            disk.insert(
                "size_gb".into(),
                v.size_gibibytes.map_or(json!("MAX"), |s| json!(s)),
            );
            disk.insert("raid_level".into(), json!(v.level.as_str()));
            if let Some(name) = v.name.as_deref().filter(|n| !n.is_empty()) {
                disk.insert("volume_name".into(), json!(name));
            }
            if let Some(r) = v.rotational {
                disk.insert("disk_type".into(), json!(if r { "hdd" } else { "ssd" }));
            }
            if let Some(n) = v.number_of_physical_disks {
                disk.insert("number_of_physical_disks".into(), json!(n));
            }
            if let Some(c) = controller {
                disk.insert("controller".into(), json!(c));
            }
            if !v.physical_disks.is_empty() {
                disk.insert("physical_disks".into(), json!(v.physical_disks));
            }
            disks.push(Value::Object(disk));
        }
    } else if !sw.is_empty() {
        if sw[0].level.as_str() != "1" {
            return Err("the level in first volume of software raid must be RAID1".into());
        }
        for v in sw {
            let mut disk = Map::new();
            disk.insert(
                "size_gb".into(),
                v.size_gibibytes.map_or(json!("MAX"), |s| json!(s)),
            );
            disk.insert("raid_level".into(), json!(v.level.as_str()));
            disk.insert("controller".into(), json!("software"));
            if !v.physical_disks.is_empty() {
                let hints: Vec<Value> = v
                    .physical_disks
                    .iter()
                    .map(|h| Value::Object(h.to_ironic()))
                    .collect();
                disk.insert("physical_disks".into(), Value::Array(hints));
            }
            disks.push(Value::Object(disk));
        }
    }
    if !root_hints && let Some(Value::Object(first)) = disks.first_mut() {
        first.insert("is_root_volume".into(), json!(true));
    }
    Ok(disks)
}

/// The clean steps that take the node from `actual` (the layout applied last, `None` when
/// unknown) to `target` (`spec.raid`).
pub fn clean_steps(
    raid_interface: &str,
    target: Option<&RaidConfig>,
    actual: Option<&RaidConfig>,
) -> Result<Vec<Value>, String> {
    interface(raid_interface, target, actual)?;
    let Some(t) = target else {
        return Ok(Vec::new());
    };
    if t.software_raid_volumes.is_some() {
        if t.software_raid_volumes == actual.and_then(|a| a.software_raid_volumes.clone()) {
            return Ok(Vec::new());
        }
        if software(Some(t)).is_empty() && software(actual).is_empty() {
            return Ok(Vec::new());
        }
        let mut steps = vec![
            step("raid", "delete_configuration"),
            step("deploy", "erase_devices_metadata"),
        ];
        if !software(Some(t)).is_empty() {
            steps.push(step("raid", "create_configuration"));
        }
        return Ok(steps);
    }
    if raid_interface == NO_RAID || t.hardware_raid_volumes.is_none() {
        return Ok(Vec::new());
    }
    if t.hardware_raid_volumes == actual.and_then(|a| a.hardware_raid_volumes.clone()) {
        return Ok(Vec::new());
    }
    let mut steps = vec![step("raid", "delete_configuration")];
    if !hardware(Some(t)).is_empty() {
        steps.push(step("raid", "create_configuration"));
    }
    Ok(steps)
}

/// Everything preparing needs for `spec.raid`: the interface, the logical disks and the steps.
pub fn plan(
    raid_interface: &str,
    target: Option<&RaidConfig>,
    actual: Option<&RaidConfig>,
    root_hints: bool,
) -> Result<RaidPlan, String> {
    let interface = interface(raid_interface, target, actual)?;
    let steps = clean_steps(raid_interface, target, actual)?;
    let logical_disks = if steps.is_empty() {
        Vec::new()
    } else {
        logical_disks(target, root_hints)?
    };
    Ok(RaidPlan {
        interface,
        logical_disks,
        steps,
    })
}

#[cfg(test)]
mod tests;
