//! The real apiserver's audit log, read back: every request the operator's ServiceAccount made
//! (verb, group, resource, subresource, response code), so a run can show what the operator really
//! uses of its role — a grant never used is a grant to remove, a 403 is a grant missing — and how
//! many Kubernetes requests a host's lifecycle costs.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

/// The audit policy: request metadata of the `metal3-system` ServiceAccounts (the operator), nothing
/// of anyone else; one line per finished request.
pub const POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [\"RequestReceived\", \"ResponseStarted\"]
rules:
  - level: Metadata
    userGroups: [\"system:serviceaccounts:metal3-system\"]
  - level: None
";

/// One line of the audit log (the fields read here).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    verb: String,
    user: User,
    #[serde(default)]
    object_ref: Option<ObjectRef>,
    #[serde(default)]
    response_status: Option<ResponseStatus>,
    #[serde(default)]
    request_u_r_i: String,
}

#[derive(Debug, Clone, Deserialize)]
struct User {
    username: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    subresource: String,
    #[serde(default)]
    api_group: String,
}

#[derive(Debug, Clone, Deserialize)]
struct ResponseStatus {
    #[serde(default)]
    code: u16,
}

/// What was asked: a verb on a group's resource (and subresource), as RBAC names them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    pub verb: String,
    pub group: String,
    pub resource: String,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {}/{}", self.verb, group, self.resource)
    }
}

/// Counts per access of one user.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Requests answered with anything but 403, per access.
    pub allowed: BTreeMap<Access, u64>,
    /// Requests refused with 403, per access.
    pub forbidden: BTreeMap<Access, u64>,
    /// Requests to non-resource URLs (discovery, /version), per path.
    pub non_resource: BTreeMap<String, u64>,
}

impl Usage {
    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.allowed.values().sum::<u64>()
            + self.forbidden.values().sum::<u64>()
            + self.non_resource.values().sum::<u64>()
    }
}

/// Reads the audit log at `path` and counts the requests of `username`. Lines that do not parse
/// (a line cut by a crash) are skipped and counted in the error only if none parse at all.
pub fn usage_of(path: &Path, username: &str) -> anyhow::Result<Usage> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut usage = Usage::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            continue;
        };
        if line.user.username != username {
            continue;
        }
        match line.object_ref {
            Some(object) if !object.resource.is_empty() => {
                let resource = if object.subresource.is_empty() {
                    object.resource
                } else {
                    format!("{}/{}", object.resource, object.subresource)
                };
                let access = Access {
                    verb: line.verb,
                    group: object.api_group,
                    resource,
                };
                let code = line.response_status.map_or(0, |s| s.code);
                let counts = if code == 403 {
                    &mut usage.forbidden
                } else {
                    &mut usage.allowed
                };
                *counts.entry(access).or_default() += 1;
            }
            _ => {
                let path = line
                    .request_u_r_i
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                *usage.non_resource.entry(path).or_default() += 1;
            }
        }
    }
    Ok(usage)
}

/// The grants of the ClusterRoles and Roles in an RBAC YAML stream, one [`Access`] per verb.
pub fn grants(rbac_yaml: &str) -> anyhow::Result<Vec<Access>> {
    #[derive(Deserialize)]
    struct Doc {
        kind: Option<String>,
        #[serde(default)]
        rules: Vec<Rule>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rule {
        #[serde(default)]
        api_groups: Vec<String>,
        #[serde(default)]
        resources: Vec<String>,
        #[serde(default)]
        verbs: Vec<String>,
    }
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(rbac_yaml) {
        let doc = Doc::deserialize(doc).context("parsing an RBAC document")?;
        if !matches!(doc.kind.as_deref(), Some("ClusterRole" | "Role")) {
            continue;
        }
        for rule in doc.rules {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        out.push(Access {
                            verb: verb.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Whether `grants` allow `access`, `*` standing for any verb, group or resource as in RBAC.
pub fn granted(access: &Access, grants: &[Access]) -> bool {
    let fits = |rule: &str, asked: &str| rule == "*" || rule == asked;
    grants.iter().any(|g| {
        fits(&g.verb, &access.verb)
            && fits(&g.group, &access.group)
            && fits(&g.resource, &access.resource)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_grant_as_rbac_does() {
        let a = |verb: &str, group: &str, resource: &str| Access {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
        };
        let grants = [
            a("create", "", "events"),
            a("*", "infrastructure.cluster.x-k8s.io", "*"),
        ];
        assert!(granted(&a("create", "", "events"), &grants));
        assert!(!granted(&a("delete", "", "events"), &grants));
        assert!(granted(
            &a("patch", "infrastructure.cluster.x-k8s.io", "metal3machines"),
            &grants
        ));
        assert!(!granted(&a("get", "", "secrets"), &grants));
    }

    #[test]
    fn requests_are_counted_per_verb_and_resource_and_refusals_apart() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let me = "system:serviceaccount:metal3-system:metal-operator";
        let lines = [
            format!(
                r#"{{"verb":"patch","user":{{"username":"{me}"}},"objectRef":{{"resource":"baremetalhosts","subresource":"status","apiGroup":"metal3.io"}},"responseStatus":{{"code":200}},"requestURI":"/apis/x"}}"#
            ),
            format!(
                r#"{{"verb":"patch","user":{{"username":"{me}"}},"objectRef":{{"resource":"baremetalhosts","subresource":"status","apiGroup":"metal3.io"}},"responseStatus":{{"code":200}},"requestURI":"/apis/x"}}"#
            ),
            format!(
                r#"{{"verb":"list","user":{{"username":"{me}"}},"objectRef":{{"resource":"pods","apiGroup":""}},"responseStatus":{{"code":403}},"requestURI":"/api/v1/pods"}}"#
            ),
            format!(
                r#"{{"verb":"get","user":{{"username":"{me}"}},"responseStatus":{{"code":200}},"requestURI":"/apis?timeout=32s"}}"#
            ),
            r#"{"verb":"get","user":{"username":"someone-else"},"objectRef":{"resource":"secrets"},"requestURI":"/api/v1/secrets"}"#.to_owned(),
            "{not json".to_owned(),
        ];
        std::fs::write(&log, lines.join("\n")).unwrap();
        let usage = usage_of(&log, me).unwrap();
        let status = Access {
            verb: "patch".into(),
            group: "metal3.io".into(),
            resource: "baremetalhosts/status".into(),
        };
        assert_eq!(usage.allowed.get(&status), Some(&2));
        assert_eq!(usage.forbidden.len(), 1);
        assert_eq!(usage.non_resource.get("/apis"), Some(&1));
        assert_eq!(usage.total(), 4);
    }

    #[test]
    fn grants_expand_every_group_resource_and_verb_of_roles_only() {
        let yaml = "kind: ServiceAccount\nmetadata: {name: x}\n---\nkind: ClusterRole\nrules:\n- apiGroups: [\"metal3.io\"]\n  resources: [\"a\", \"a/status\"]\n  verbs: [\"get\", \"patch\"]\n---\nkind: Role\nrules:\n- apiGroups: [\"\"]\n  resources: [\"leases\"]\n  verbs: [\"get\"]\n";
        let g = grants(yaml).unwrap();
        assert_eq!(g.len(), 5);
        assert!(
            g.iter()
                .any(|a| a.to_string() == "patch metal3.io/a/status")
        );
        assert!(g.iter().any(|a| a.to_string() == "get core/leases"));
    }
}
