//! BareMetalHost + Secret manifests for a fleet (bulk registration in one multi-document YAML).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use super::Fleet;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    name: String,
    namespace: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Secret<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    #[serde(rename = "type")]
    type_: &'static str,
    data: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bmc {
    address: String,
    credentials_name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_certificate_verification: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BmhSpec {
    online: bool,
    bmc: Bmc,
    #[serde(rename = "bootMACAddress", skip_serializing_if = "Option::is_none")]
    boot_mac_address: Option<String>,
    boot_mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BareMetalHost<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    spec: BmhSpec,
}

/// One Secret (`<host>-bmc-secret`, base64 `username`/`password`) and one BareMetalHost per host,
/// as a multi-document YAML stream. `spec.bmc.address` is exactly the endpoint `metal-sim serve`
/// listens on; HTTPS BMCs get `disableCertificateVerification: true` (self-signed certificates).
pub fn manifests(fleet: &Fleet) -> Result<String, serde_yaml::Error> {
    let ns = fleet.file.namespace.as_str();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    for h in fleet.hosts() {
        let secret_name = format!("{}-bmc-secret", h.name);
        let secret = Secret {
            api_version: "v1",
            kind: "Secret",
            metadata: Metadata {
                name: secret_name.clone(),
                namespace: ns,
                labels: BTreeMap::new(),
            },
            type_: "Opaque",
            data: BTreeMap::from([
                ("username", b64.encode(&h.bmc.credentials.username)),
                ("password", b64.encode(&h.bmc.credentials.password)),
            ]),
        };
        let bmh = BareMetalHost {
            api_version: "metal3.io/v1alpha1",
            kind: "BareMetalHost",
            metadata: Metadata {
                name: h.name.clone(),
                namespace: ns,
                labels: h.labels.clone(),
            },
            spec: BmhSpec {
                online: true,
                bmc: Bmc {
                    address: h.bmc.address(),
                    credentials_name: secret_name,
                    disable_certificate_verification: h.bmc.tls,
                },
                boot_mac_address: h.profile.boot_mac().map(str::to_string),
                boot_mode: "UEFI",
            },
        };
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&secret)?);
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&bmh)?);
    }
    Ok(out)
}
