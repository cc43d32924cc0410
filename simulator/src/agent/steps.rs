//! The steps the fake agent advertises (IPA's generic hardware manager) and how it picks the root
//! disk.

use serde_json::{Value, json};

use crate::machine::HardwareProfile;

use super::core::{HARDWARE_MANAGER, HARDWARE_MANAGER_VERSION};

/// Steps are listed under this manager class name.
pub(crate) const MANAGER_CLASS: &str = "GenericHardwareManager";
/// IPA picks the smallest disk at least this big when no root device hint is given.
const MIN_ROOT_BYTES: u64 = 4 << 30;

pub(crate) fn versions() -> Value {
    json!({ HARDWARE_MANAGER: HARDWARE_MANAGER_VERSION })
}

fn step(name: &str, priority: u32, interface: &str) -> Value {
    json!({"step": name, "priority": priority, "interface": interface,
           "reboot_requested": false, "abortable": true})
}

/// The deploy steps advertised (IPA's generic manager: in-band `write_image` is reached through
/// Ironic's out-of-band step of the same name, hence priority 0).
pub fn deploy_steps() -> Vec<Value> {
    let mut w = step("write_image", 0, "deploy");
    if let Some(o) = w.as_object_mut() {
        o.remove("abortable");
    }
    vec![step("erase_devices_metadata", 0, "deploy"), w]
}

/// The clean steps advertised: `erase_devices_metadata` (99) and `erase_devices` (10) run during
/// automated cleaning; the others only when asked for.
pub fn clean_steps() -> Vec<Value> {
    vec![
        step("erase_devices", 10, "deploy"),
        step("erase_devices_metadata", 99, "deploy"),
        step("erase_devices_express", 0, "deploy"),
        step("erase_pstore", 0, "deploy"),
    ]
}

/// The root device hints Ironic knows, in its order; any other name is refused with its text
/// (`ironic.common.utils.parse_root_device_hints`).
const VALID_HINTS: [&str; 11] = [
    "size",
    "model",
    "wwn",
    "serial",
    "vendor",
    "wwn_with_extension",
    "wwn_vendor_extension",
    "name",
    "rotational",
    "hctl",
    "by_path",
];

/// Picks the root disk as IPA does: the first disk matching every root device hint
/// (`name`, `serial`, `wwn`, `model`, `vendor`, `hctl`, `rotational`, `size` in GiB, possibly
/// with an operator such as `">= 100"`), or without hints the smallest disk of at least 4 GiB.
pub fn root_disk_index(profile: &HardwareProfile, hints: Option<&Value>) -> Result<usize, String> {
    let hints = hints.and_then(Value::as_object).filter(|h| !h.is_empty());
    let Some(hints) = hints else {
        return profile
            .disks
            .iter()
            .enumerate()
            .filter(|(_, d)| d.size_bytes >= MIN_ROOT_BYTES)
            .min_by_key(|(i, d)| (d.size_bytes, *i))
            .map(|(i, _)| i)
            .ok_or_else(|| "No suitable device was found for deployment".to_string());
    };
    let mut invalid: Vec<&str> = hints
        .keys()
        .map(String::as_str)
        .filter(|k| !VALID_HINTS.contains(k))
        .collect();
    if !invalid.is_empty() {
        invalid.sort_unstable();
        return Err(format!(
            "The hints \"{}\" are invalid. Valid hints are: \"{}\"",
            invalid.join(", "),
            VALID_HINTS.join(", ")
        ));
    }
    let matches = |d: &crate::machine::Disk| {
        hints.iter().all(|(k, v)| {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            let strip = |s: &str| s.trim_start_matches("s== ").trim().to_string();
            match k.as_str() {
                "name" => {
                    let want = strip(&text);
                    d.name == want || d.name.trim_start_matches("/dev/") == want
                }
                "serial" => d.serial.eq_ignore_ascii_case(&strip(&text)),
                "wwn" | "wwn_with_extension" => d.wwn.eq_ignore_ascii_case(&strip(&text)),
                "model" => d.model == strip(&text),
                "vendor" => d.vendor == strip(&text),
                "hctl" => d.hctl == strip(&text),
                "rotational" => match v {
                    Value::Bool(b) => d.rotational == *b,
                    _ => matches!(
                        (text.to_ascii_lowercase().as_str(), d.rotational),
                        ("true" | "1" | "yes", true) | ("false" | "0" | "no", false)
                    ),
                },
                "size" => size_matches(&text, d.size_bytes >> 30),
                // Valid hints we do not model (by_path) do not exclude a disk.
                _ => true,
            }
        })
    };
    profile.disks.iter().position(matches).ok_or_else(|| {
        format!(
            "No suitable device was found for deployment using these hints {}",
            Value::Object(hints.clone())
        )
    })
}

fn size_matches(hint: &str, gib: u64) -> bool {
    let h = hint.trim();
    let (op, num) = ["<=", ">=", "==", "<", ">"]
        .iter()
        .find_map(|op| h.strip_prefix(op).map(|rest| (*op, rest.trim())))
        .unwrap_or(("==", h));
    let Ok(n) = num.parse::<u64>() else {
        return false;
    };
    match op {
        "<=" => gib <= n,
        ">=" => gib >= n,
        "<" => gib < n,
        ">" => gib > n,
        _ => gib == n,
    }
}
