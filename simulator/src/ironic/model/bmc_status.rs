//! What Ironic 39 caches from a node's Redfish System besides its settings: the boot mode and
//! secure boot state (when the node is verified and at each power-state sync; node fields
//! `boot_mode`, `secure_boot`, 1.75) and the health rollup (at each power-state sync; `health`,
//! 1.109), with the history event a health change leaves.

use serde_json::Value;

/// The boot mode a System's `Boot.BootSourceOverrideMode` names, as Ironic spells it.
pub fn boot_mode(system: &Value) -> Option<&'static str> {
    match system.pointer("/Boot/BootSourceOverrideMode")?.as_str()? {
        "UEFI" => Some("uefi"),
        "Legacy" => Some("bios"),
        _ => None,
    }
}

/// Whether secure boot is enabled, from a SecureBoot resource (`SecureBootEnable`).
pub fn secure_boot(doc: &Value) -> Option<bool> {
    doc.get("SecureBootEnable")?.as_bool()
}

/// A System's `Status.Health` among the values Ironic keeps (`OK`, `Warning`, `Critical`).
pub fn health(system: &Value) -> Option<&'static str> {
    match system.pointer("/Status/Health")?.as_str()? {
        "OK" => Some("OK"),
        "Warning" => Some("Warning"),
        "Critical" => Some("Critical"),
        _ => None,
    }
}

/// The history event of a health change from `old` to `new` (none when they are equal).
pub fn health_change_event(old: Option<&str>, new: Option<&str>) -> Option<String> {
    (old != new).then(|| {
        format!(
            "Node health status changed: health='{}' (previously '{}')",
            new.unwrap_or("None"),
            old.unwrap_or("None")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn boot_mode_secure_boot_and_health_read_as_ironic_names_them() {
        let system =
            json!({"Boot": {"BootSourceOverrideMode": "UEFI"}, "Status": {"Health": "Warning"}});
        assert_eq!(boot_mode(&system), Some("uefi"));
        assert_eq!(
            boot_mode(&json!({"Boot": {"BootSourceOverrideMode": "Legacy"}})),
            Some("bios")
        );
        assert_eq!(boot_mode(&json!({})), None);
        assert_eq!(health(&system), Some("Warning"));
        assert_eq!(health(&json!({"Status": {"Health": "Bad"}})), None);
        assert_eq!(secure_boot(&json!({"SecureBootEnable": true})), Some(true));
        assert_eq!(secure_boot(&json!({})), None);
    }

    #[test]
    fn only_a_health_change_leaves_an_event() {
        assert_eq!(
            health_change_event(None, Some("OK")).as_deref(),
            Some("Node health status changed: health='OK' (previously 'None')")
        );
        assert_eq!(health_change_event(Some("OK"), Some("OK")), None);
    }
}
