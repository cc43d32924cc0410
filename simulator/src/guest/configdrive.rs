//! The config drive a deploy writes beside the image: what Ironic gave the agent in `write_image`'s
//! `configdrive` argument, read into its three documents.
//!
//! Ironic accepts a JSON dict (`{meta_data, user_data, network_data}`, API ≥ 1.56) and gives the
//! agent either that dict (our mock Ironic) or the ISO 9660 image it built from it, gzipped and
//! base64-encoded (real Ironic). Both are read here; a URL (a config drive Ironic stored elsewhere)
//! and anything undecodable are kept as [`ConfigDrive::Unreadable`] with the reason, so the guest
//! can say why it found no user data.

use serde::Serialize;
use serde_json::{Map, Value};

use super::iso9660;

/// What the config drive partition holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigDrive {
    /// The OpenStack config drive's documents.
    Documents {
        /// `openstack/latest/meta_data.json`.
        meta_data: Map<String, Value>,
        /// `openstack/latest/user_data`, if any.
        user_data: Option<String>,
        /// `openstack/latest/network_data.json`, if any.
        network_data: Option<Value>,
    },
    /// Something the agent was given but that cannot be read as a config drive.
    Unreadable {
        /// Why.
        reason: String,
    },
}

impl ConfigDrive {
    /// Reads the `configdrive` argument of `write_image` (`None` when there was none).
    pub fn from_agent_argument(value: Option<&Value>) -> Option<ConfigDrive> {
        match value? {
            Value::Null => None,
            Value::Object(dict) => Some(Self::from_dict(dict)),
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(Self::from_text(text)),
            other => Some(ConfigDrive::Unreadable {
                reason: format!("configdrive is neither a dict nor a string: {other}"),
            }),
        }
    }

    fn from_dict(dict: &Map<String, Value>) -> ConfigDrive {
        let meta_data = match dict.get("meta_data") {
            Some(Value::Object(m)) => m.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(other) => {
                return ConfigDrive::Unreadable {
                    reason: format!("configdrive meta_data is not a dict: {other}"),
                };
            }
        };
        let user_data = match dict.get("user_data") {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => None,
            // Ironic serialises a dict or list user_data as JSON.
            Some(other) => Some(other.to_string()),
        };
        let network_data = dict.get("network_data").filter(|v| !v.is_null()).cloned();
        ConfigDrive::Documents {
            meta_data,
            user_data,
            network_data,
        }
    }

    fn from_text(text: &str) -> ConfigDrive {
        if text.starts_with("http://") || text.starts_with("https://") {
            return ConfigDrive::Unreadable {
                reason: format!(
                    "configdrive is a URL ({text}); the simulated agent does not fetch it"
                ),
            };
        }
        match iso9660::config_drive_files(text) {
            Ok(files) => {
                let meta_data = match files.meta_data.as_deref().map(serde_json::from_slice) {
                    Some(Ok(Value::Object(m))) => m,
                    None => Map::new(),
                    Some(Ok(other)) => {
                        return ConfigDrive::Unreadable {
                            reason: format!("meta_data.json is not a JSON object: {other}"),
                        };
                    }
                    Some(Err(e)) => {
                        return ConfigDrive::Unreadable {
                            reason: format!("meta_data.json is not JSON: {e}"),
                        };
                    }
                };
                let user_data = files
                    .user_data
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                let network_data = files
                    .network_data
                    .and_then(|b| serde_json::from_slice(&b).ok());
                ConfigDrive::Documents {
                    meta_data,
                    user_data,
                    network_data,
                }
            }
            Err(reason) => ConfigDrive::Unreadable { reason },
        }
    }

    /// A `meta_data` key as text (`uuid`, `local-hostname`, …).
    pub fn meta(&self, key: &str) -> Option<String> {
        match self {
            ConfigDrive::Documents { meta_data, .. } => match meta_data.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            },
            ConfigDrive::Unreadable { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dict_is_read_as_ironic_would_write_it() {
        let drive = ConfigDrive::from_agent_argument(Some(&json!({
            "meta_data": {"uuid": "u-1", "local-hostname": "worker-0"},
            "user_data": "#cloud-config\n",
            "network_data": {"links": []},
        })))
        .unwrap();
        assert_eq!(drive.meta("uuid").as_deref(), Some("u-1"));
        assert_eq!(drive.meta("local-hostname").as_deref(), Some("worker-0"));
        match drive {
            ConfigDrive::Documents {
                user_data,
                network_data,
                ..
            } => {
                assert_eq!(user_data.as_deref(), Some("#cloud-config\n"));
                assert_eq!(network_data, Some(json!({"links": []})));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_given_is_no_config_drive_and_bad_input_says_why() {
        assert_eq!(ConfigDrive::from_agent_argument(None), None);
        assert_eq!(ConfigDrive::from_agent_argument(Some(&Value::Null)), None);
        let why = |v: Value| match ConfigDrive::from_agent_argument(Some(&v)).unwrap() {
            ConfigDrive::Unreadable { reason } => reason,
            other => panic!("{other:?}"),
        };
        assert!(why(json!(7)).contains("neither a dict nor a string"));
        assert!(why(json!({"meta_data": "x"})).contains("meta_data is not a dict"));
        assert!(why(json!("https://127.0.0.1/cd.iso")).contains("URL"));
        assert!(
            why(json!("H4sIAAAA")).contains("gzip"),
            "{}",
            why(json!("H4sIAAAA"))
        );
        assert!(why(json!("not base64!")).contains("base64"));
    }
}
