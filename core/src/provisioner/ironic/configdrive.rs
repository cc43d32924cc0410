//! The config drive Ironic builds from a JSON dict (API ≥ 1.56): `{meta_data, user_data,
//! network_data}` from the host's userData / networkData / metaData Secrets.

use serde_json::{Map, Value};

use crate::provisioner::{Deployment, HostRef};

/// Builds the `configdrive` dict. `metaData` and `networkData` are YAML or JSON documents;
/// `userData` is passed through as text. The host's identity keys are added to `meta_data`
/// unless the Secret sets them. Errors name the offending Secret key.
pub fn config_drive(host: &HostRef, d: &Deployment) -> Result<Value, String> {
    let mut meta = match d.meta_data.as_deref() {
        Some(text) => match parse_document("metaData", text)? {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => return Err("metaData must be a mapping".to_string()),
        },
        None => Map::new(),
    };
    let name = host.name.clone();
    // As upstream BMO writes it: the host's UID as `uuid` (cloud-init's instance id; CAPM3's
    // kubeadm templates label the Node `metal3.io/uuid={{ ds.meta_data.uuid }}`).
    if let Some(uid) = host.uid.as_ref().filter(|u| !u.is_empty()) {
        meta.entry("uuid".to_string())
            .or_insert_with(|| Value::String(uid.clone()));
    }
    for (key, value) in [
        ("metal3-namespace", host.namespace.clone()),
        ("metal3-name", name.clone()),
        ("local-hostname", name.clone()),
        ("local_hostname", name.clone()),
        ("name", name),
    ] {
        meta.entry(key.to_string())
            .or_insert_with(|| Value::String(value));
    }
    let mut drive = Map::new();
    drive.insert("meta_data".into(), Value::Object(meta));
    if let Some(user) = d.user_data.as_deref() {
        drive.insert("user_data".into(), Value::String(user.to_string()));
    }
    if let Some(text) = d.network_data.as_deref() {
        match parse_document("networkData", text)? {
            v @ Value::Object(_) => {
                drive.insert("network_data".into(), v);
            }
            Value::Null => {}
            _ => return Err("networkData must be a mapping".to_string()),
        }
    }
    Ok(Value::Object(drive))
}

fn parse_document(key: &str, text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_yaml::from_str::<Value>(text).map_err(|e| format!("{key} is not valid YAML or JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(uid: Option<&str>) -> HostRef {
        HostRef {
            namespace: "metal3".into(),
            name: "worker-0".into(),
            node_id: None,
            boot_mac: None,
            uid: uid.map(str::to_string),
        }
    }

    fn deployment(meta_data: Option<&str>) -> Deployment {
        Deployment {
            image_url: "http://127.0.0.1/os.img".into(),
            checksum: None,
            checksum_type: None,
            format: None,
            custom_deploy: None,
            user_data: None,
            network_data: None,
            meta_data: meta_data.map(str::to_string),
            root_device_hints: None,
        }
    }

    #[test]
    fn the_hosts_uid_is_the_uuid_unless_the_meta_data_secret_sets_one() {
        let plain = deployment(None);
        let drive = config_drive(&host(Some("c0ffee-1")), &plain).unwrap();
        assert_eq!(drive["meta_data"]["uuid"], "c0ffee-1");
        assert_eq!(drive["meta_data"]["local-hostname"], "worker-0");
        let own = deployment(Some("uuid: mine\n"));
        let drive = config_drive(&host(Some("c0ffee-1")), &own).unwrap();
        assert_eq!(drive["meta_data"]["uuid"], "mine");
        let drive = config_drive(&host(None), &plain).unwrap();
        assert!(drive["meta_data"].get("uuid").is_none());
    }
}
