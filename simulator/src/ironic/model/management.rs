//! What a node's `fake` management interface answers (fake-hardware's default), as Ironic 39's
//! `FakeManagement` does: PXE as the only, never persistent, boot device; two indicators (a
//! read-only chassis LED and a system LED), each reading `on`, none settable. Indicator names are
//! `<name>@<component>`.

use serde_json::{Value, json};

/// The boot devices the fake interface supports.
pub const FAKE_BOOT_DEVICES: [&str; 1] = ["pxe"];

/// The fake interface's indicators: component, name, read-only, states.
const FAKE_INDICATORS: [(&str, &str, bool, &[&str]); 2] = [
    ("chassis", "led-0", true, &["off", "on"]),
    ("system", "led", false, &["blinking", "off", "on"]),
];

/// `GET .../management/boot_device`.
pub fn fake_boot_device() -> Value {
    json!({"boot_device": "pxe", "persistent": false})
}

/// Why setting `device` is refused, if it is.
pub fn boot_device_problem(device: &str) -> Option<String> {
    (!FAKE_BOOT_DEVICES.contains(&device))
        .then(|| format!("Invalid boot device {device} specified."))
}

/// The indicators' documents, linked under `/v1/nodes/{node}/management/indicators/`.
pub fn fake_indicators(base: &str, node: &str) -> Value {
    let items: Vec<Value> = FAKE_INDICATORS
        .iter()
        .map(|(component, name, readonly, states)| {
            let path = format!("nodes/{node}/management/indicators/{name}@{component}");
            json!({
                "name": format!("{name}@{component}"),
                "component": component,
                "readonly": readonly,
                "states": states,
                "links": super::links(base, &path),
            })
        })
        .collect();
    json!({ "indicators": items })
}

/// The state of indicator `unique` (`<name>@<component>`), or Ironic's refusal.
pub fn fake_indicator_state(unique: &str) -> Result<&'static str, String> {
    let Some((name, component)) = unique.split_once('@') else {
        return Err(format!("Malformed indicator name \"{unique}\""));
    };
    if !FAKE_INDICATORS.iter().any(|(c, _, _, _)| *c == component) {
        return Err(format!("Invalid component {component} specified."));
    }
    if !FAKE_INDICATORS
        .iter()
        .any(|(c, n, _, _)| *c == component && *n == name)
    {
        return Err(format!("Invalid indicator {name} specified."));
    }
    Ok("on")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pxe_and_the_two_leds() {
        assert_eq!(boot_device_problem("pxe"), None);
        assert_eq!(
            boot_device_problem("disk").as_deref(),
            Some("Invalid boot device disk specified.")
        );
        assert_eq!(fake_indicator_state("led@system"), Ok("on"));
        assert_eq!(
            fake_indicator_state("nope"),
            Err("Malformed indicator name \"nope\"".into())
        );
        assert_eq!(
            fake_indicator_state("led@bmc"),
            Err("Invalid component bmc specified.".into())
        );
        assert_eq!(
            fake_indicator_state("led-0@system"),
            Err("Invalid indicator led-0 specified.".into())
        );
        let all = fake_indicators("http://x", "n1");
        assert_eq!(all["indicators"][1]["name"], "led@system");
        assert_eq!(
            all["indicators"][0]["links"][0]["href"],
            "http://x/v1/nodes/n1/management/indicators/led-0@chassis"
        );
    }
}
