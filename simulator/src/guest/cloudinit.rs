//! cloud-init, the part a Kubernetes node image relies on: the hostname from the config drive's
//! `meta_data` (`local-hostname`, as cloud-init's OpenStack datasource reads it, or a `#cloud-config`
//! `hostname`), user data rendered as a Jinja template when its first line says
//! `## template: jinja` (`{{ ds.meta_data.KEY }}` and `{{ v1.local_hostname }}`; an unknown variable
//! renders as cloud-init renders it, `CI_MISSING_JINJA_VAR/NAME`), and `#cloud-config`'s
//! `write_files` (plain or base64 content). Scripts and other user data formats are not run; the
//! result says so in its notes.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::ConfigDrive;

/// What cloud-init left on the booted system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CloudInit {
    /// The hostname it set, if the config drive gave one.
    pub hostname: Option<String>,
    /// Files written by `write_files`, by absolute path.
    pub files: BTreeMap<String, String>,
    /// What it could not do, in words (a log of the simulated boot).
    pub notes: Vec<String>,
}

const JINJA_HEADER: &str = "## template: jinja";

/// Runs cloud-init's first boot on a config drive.
pub fn first_boot(drive: &ConfigDrive) -> CloudInit {
    let mut out = CloudInit::default();
    let (meta, user_data) = match drive {
        ConfigDrive::Documents {
            meta_data,
            user_data,
            ..
        } => (meta_data, user_data.as_deref()),
        ConfigDrive::Unreadable { reason } => {
            out.notes
                .push(format!("no config drive could be read: {reason}"));
            return out;
        }
    };
    out.hostname = drive
        .meta("local-hostname")
        .or_else(|| drive.meta("hostname"));
    let Some(raw) = user_data else {
        out.notes.push("the config drive has no user data".into());
        return out;
    };
    let text = match raw.split_once('\n') {
        Some((first, rest)) if first.trim() == JINJA_HEADER => render(rest, meta, &out.hostname),
        _ => raw.to_string(),
    };
    if !text.trim_start().starts_with("#cloud-config") {
        let first = text.lines().next().unwrap_or_default();
        out.notes.push(format!(
            "user data is not #cloud-config (it starts {first:?}); the simulated guest runs no scripts"
        ));
        return out;
    }
    let config: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            out.notes
                .push(format!("user data #cloud-config is not valid YAML: {e}"));
            return out;
        }
    };
    if let Some(h) = config.get("hostname").and_then(|h| h.as_str()) {
        out.hostname = Some(h.to_string());
    }
    let files = match config.get("write_files") {
        None => return out,
        Some(serde_yaml::Value::Sequence(files)) => files,
        Some(_) => {
            out.notes.push("write_files is not a list".into());
            return out;
        }
    };
    for (i, file) in files.iter().enumerate() {
        let Some(path) = file.get("path").and_then(|p| p.as_str()) else {
            out.notes.push(format!("write_files[{i}] has no path"));
            continue;
        };
        let content = file.get("content").and_then(|c| c.as_str()).unwrap_or("");
        let encoding = file
            .get("encoding")
            .and_then(|e| e.as_str())
            .unwrap_or("text/plain");
        let content = match encoding {
            "b64" | "base64" => {
                let compact: String = content.split_whitespace().collect();
                match base64::engine::general_purpose::STANDARD.decode(compact) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => {
                        out.notes.push(format!(
                            "write_files[{i}] ({path}): content is not base64: {e}"
                        ));
                        continue;
                    }
                }
            }
            "text/plain" => content.to_string(),
            other => {
                out.notes.push(format!(
                    "write_files[{i}] ({path}): encoding {other:?} is not simulated"
                ));
                continue;
            }
        };
        out.files.insert(path.to_string(), content);
    }
    out
}

/// Renders `{{ ds.meta_data.KEY }}` and `{{ v1.local_hostname }}`.
fn render(
    template: &str,
    meta: &serde_json::Map<String, Value>,
    hostname: &Option<String>,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = if let Some(key) = name.strip_prefix("ds.meta_data.") {
            meta.get(key).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        } else if name == "v1.local_hostname" {
            hostname.clone()
        } else {
            None
        };
        out.push_str(&value.unwrap_or_else(|| format!("CI_MISSING_JINJA_VAR/{name}")));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn drive(user_data: &str) -> ConfigDrive {
        ConfigDrive::from_agent_argument(Some(&json!({
            "meta_data": {"uuid": "bmh-uid-1", "local-hostname": "openshift-worker-0"},
            "user_data": user_data,
        })))
        .unwrap()
    }

    #[test]
    fn a_jinja_cloud_config_writes_its_files_with_the_meta_data_filled_in() {
        let user = "## template: jinja\n#cloud-config\nwrite_files:\n- path: /etc/default/kubelet\n  \
                    content: \"KUBELET_EXTRA_ARGS=--node-labels=metal3.io/uuid={{ ds.meta_data.uuid }}\"\n\
                    - path: /etc/kubernetes/kubelet.conf\n  encoding: b64\n  content: aGVsbG8=\n\
                    - path: /x\n  content: \"{{ ds.meta_data.nope }}\"\n";
        let booted = first_boot(&drive(user));
        assert_eq!(booted.hostname.as_deref(), Some("openshift-worker-0"));
        assert_eq!(
            booted.files["/etc/default/kubelet"],
            "KUBELET_EXTRA_ARGS=--node-labels=metal3.io/uuid=bmh-uid-1"
        );
        assert_eq!(booted.files["/etc/kubernetes/kubelet.conf"], "hello");
        assert_eq!(booted.files["/x"], "CI_MISSING_JINJA_VAR/ds.meta_data.nope");
        assert!(booted.notes.is_empty(), "{:?}", booted.notes);
    }

    #[test]
    fn without_the_header_braces_stay_and_cloud_config_can_set_the_hostname() {
        let booted = first_boot(&drive(
            "#cloud-config\nhostname: worker-0\nwrite_files:\n- path: /a\n  content: \"{{ x }}\"\n",
        ));
        assert_eq!(booted.hostname.as_deref(), Some("worker-0"));
        assert_eq!(booted.files["/a"], "{{ x }}");
    }

    #[test]
    fn what_is_not_simulated_is_said() {
        let script = first_boot(&drive("#!/bin/sh\necho hi\n"));
        assert!(script.files.is_empty());
        assert!(
            script.notes[0].contains("runs no scripts"),
            "{:?}",
            script.notes
        );
        let bad = first_boot(&drive("#cloud-config\nwrite_files: [ {\n"));
        assert!(bad.notes[0].contains("not valid YAML"), "{:?}", bad.notes);
        let enc = first_boot(&drive(
            "#cloud-config\nwrite_files:\n- path: /a\n  encoding: gz\n  content: x\n- content: y\n",
        ));
        assert!(
            enc.notes[0].contains("\"gz\" is not simulated"),
            "{:?}",
            enc.notes
        );
        assert!(
            enc.notes[1].contains("write_files[1] has no path"),
            "{:?}",
            enc.notes
        );
        let unreadable = first_boot(&ConfigDrive::Unreadable { reason: "r".into() });
        assert!(unreadable.notes[0].contains("no config drive could be read: r"));
    }
}
