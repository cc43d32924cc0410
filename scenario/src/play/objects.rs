//! The objects steps write, the same in both modes: what `register` applies (the fleet's
//! BareMetalHosts and BMC Secrets for the selected hosts, with the step's changes) and the
//! HostClaim `create_claim` creates.

use serde_json::{Value, json};

use crate::Scenario;
use crate::format::{Claim, Register};
use metal_sim::fleet::{Fleet, manifests};

/// The objects `r` registers, in the fleet's manifest order. `fleet` is the fleet as served
/// (its BMC addresses); `substitute` fills in `$IMAGES` in the step's patch.
pub fn register_documents(
    scenario: &Scenario,
    fleet: &Fleet,
    r: &Register,
    substitute: impl Fn(&Value) -> Value,
) -> Result<Vec<Value>, String> {
    let text = manifests(fleet).map_err(|e| e.to_string())?;
    let wanted = scenario.host_names(&r.hosts);
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let mut doc: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| format!("fleet manifests: {e}"))?;
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match doc["kind"].as_str() {
            Some("Secret") => {
                let host = name.trim_end_matches("-bmc-secret");
                if !wanted.iter().any(|w| w == host) {
                    continue;
                }
                if let Some(p) = &r.password {
                    doc["data"]["password"] = json!(b64(p));
                }
            }
            Some("BareMetalHost") => {
                if !wanted.contains(&name) {
                    continue;
                }
                doc["spec"]["online"] = json!(r.online);
                if r.externally_provisioned {
                    doc["spec"]["externallyProvisioned"] = json!(true);
                }
                if r.inspection_disabled {
                    doc["metadata"]["annotations"] = json!({
                        metal_core::api::annotations::INSPECT:
                            metal_core::api::annotations::INSPECT_DISABLED
                    });
                }
                if let Some(p) = &r.patch {
                    json_patch::merge(&mut doc, &substitute(p));
                }
            }
            _ => continue,
        }
        out.push(doc);
    }
    Ok(out)
}

/// The HostClaim `c` creates in `namespace`: its selector, the image at `image` with its
/// `.sha256sum`, `poweredOn`, the failure domain and the user data Secret.
pub fn claim_object(c: &Claim, namespace: &str, image: &str) -> Value {
    let mut spec = json!({
        "hostSelector": {"matchLabels": c.match_labels},
        "image": {"url": image, "checksum": format!("{image}.sha256sum"), "checksumType": "sha256"},
        "poweredOn": c.powered_on,
    });
    if let Some(fd) = &c.failure_domain {
        spec["failureDomain"] = json!(fd);
    }
    if let Some(secret) = &c.user_data {
        spec["userData"] = json!({"name": secret, "namespace": namespace});
    }
    json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
        "metadata": {"name": c.name, "namespace": namespace},
        "spec": spec,
    })
}
