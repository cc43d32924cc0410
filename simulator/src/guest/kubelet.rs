//! The kubelet of a simulated Kubernetes node image: what it registers, decided from what cloud-init
//! left (pure). It runs when the image is a node image and cloud-init wrote a kubeconfig at
//! `/etc/kubernetes/kubelet.conf` (where kubeadm keeps the kubelet's); it reads its extra flags from
//! `KUBELET_EXTRA_ARGS` in `/etc/default/kubelet` or `/etc/sysconfig/kubelet` (`--node-labels`,
//! `--provider-id`, `--hostname-override`), and names the Node after the hostname, lower-cased, as the
//! kubelet does. The objects it writes — the Node with its well-known labels and status, its Lease
//! in `kube-node-lease` — are built here; `serve::kubelet` sends them.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::cloudinit::CloudInit;

/// Where cloud-init must leave the kubelet's kubeconfig.
pub const KUBECONFIG_PATH: &str = "/etc/kubernetes/kubelet.conf";
const FLAG_FILES: [&str; 2] = ["/etc/default/kubelet", "/etc/sysconfig/kubelet"];
/// The kubelet's Lease duration (its default), in seconds.
pub const LEASE_SECONDS: u64 = 40;

/// How the kubelet authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A client certificate and key (PEM).
    Certificate {
        /// Certificate chain, PEM.
        cert_pem: String,
        /// Private key, PEM.
        key_pem: String,
    },
    /// A bearer token.
    Token(String),
}

/// The workload cluster the kubelet joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServer {
    /// `https://HOST:PORT`.
    pub server: String,
    /// CA bundle, PEM (`None`: the system roots, which a loopback test server will not match).
    pub ca_pem: Option<String>,
    /// Who the kubelet is.
    pub credentials: Credentials,
}

/// What this kubelet registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletPlan {
    /// The Node's name.
    pub node_name: String,
    /// Every label the kubelet sets (well-known ones and `--node-labels`).
    pub labels: BTreeMap<String, String>,
    /// `--provider-id`, if given.
    pub provider_id: Option<String>,
    /// Where to register.
    pub api: ApiServer,
}

/// Decides whether a kubelet runs and what it registers: `Ok(None)` when cloud-init left no
/// kubeconfig (a node image that was not given one), `Err` with the reason when what it left cannot
/// be used (so the simulated guest can say why no Node appeared).
pub fn plan(booted: &CloudInit) -> Result<Option<KubeletPlan>, String> {
    let Some(kubeconfig) = booted.files.get(KUBECONFIG_PATH) else {
        return Ok(None);
    };
    let api = parse_kubeconfig(kubeconfig).map_err(|e| format!("{KUBECONFIG_PATH}: {e}"))?;
    let args = FLAG_FILES
        .iter()
        .find_map(|f| booted.files.get(*f))
        .map(|text| extra_args(text))
        .unwrap_or_default();
    let flag = |name: &str| {
        args.iter().rev().find_map(|a| {
            a.strip_prefix(&format!("--{name}="))
                .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
        })
    };
    let hostname = flag("hostname-override")
        .or_else(|| booted.hostname.clone())
        .ok_or("no hostname: the config drive's meta_data has no local-hostname")?
        .to_lowercase();
    if !is_dns_subdomain(&hostname) {
        return Err(format!(
            "hostname {hostname:?} is not a valid Node name (a DNS-1123 subdomain)"
        ));
    }
    let mut labels = BTreeMap::new();
    for (k, v) in [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/hostname", hostname.as_str()),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    if let Some(list) = flag("node-labels") {
        for pair in list.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("--node-labels entry {pair:?} is not KEY=VALUE"))?;
            labels.insert(k.to_string(), v.to_string());
        }
    }
    Ok(Some(KubeletPlan {
        node_name: hostname,
        labels,
        provider_id: flag("provider-id").filter(|p| !p.is_empty()),
        api,
    }))
}

/// `KUBELET_EXTRA_ARGS=...` split into flags.
fn extra_args(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("KUBELET_EXTRA_ARGS="))
        .flat_map(|v| {
            v.trim_matches(|c| c == '"' || c == '\'')
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

fn parse_kubeconfig(text: &str) -> Result<ApiServer, String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a kubeconfig (YAML): {e}"))?;
    let named = |list: &str, name: &str, field: &str| -> Option<serde_yaml::Value> {
        doc.get(list)?
            .as_sequence()?
            .iter()
            .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name))
            .and_then(|e| e.get(field).cloned())
    };
    let current = doc
        .get("current-context")
        .and_then(|c| c.as_str())
        .ok_or("no current-context")?;
    let context = named("contexts", current, "context")
        .ok_or_else(|| format!("context {current:?} is not defined"))?;
    let pick = |key: &str| {
        context
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let cluster_name = pick("cluster").ok_or("the context names no cluster")?;
    let user_name = pick("user").ok_or("the context names no user")?;
    let cluster = named("clusters", &cluster_name, "cluster")
        .ok_or_else(|| format!("cluster {cluster_name:?} is not defined"))?;
    let user = named("users", &user_name, "user")
        .ok_or_else(|| format!("user {user_name:?} is not defined"))?;
    let text_of =
        |v: &serde_yaml::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_string);
    let data = |v: &serde_yaml::Value, key: &str| -> Result<Option<String>, String> {
        text_of(v, key)
            .map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| format!("{key} is not base64: {e}"))
            })
            .transpose()
    };
    let server = text_of(&cluster, "server").ok_or("the cluster has no server")?;
    let credentials = match (
        data(&user, "client-certificate-data")?,
        data(&user, "client-key-data")?,
        text_of(&user, "token"),
    ) {
        (Some(cert_pem), Some(key_pem), _) => Credentials::Certificate { cert_pem, key_pem },
        (_, _, Some(token)) => Credentials::Token(token),
        _ => {
            return Err(
                "the user has neither client-certificate-data + client-key-data nor a token \
                 (file paths are not simulated)"
                    .into(),
            );
        }
    };
    Ok(ApiServer {
        server,
        ca_pem: data(&cluster, "certificate-authority-data")?,
        credentials,
    })
}

/// What the machine tells the kubelet about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// The machine's system UUID.
    pub system_uuid: String,
    /// Its first NIC's address, if it has one.
    pub internal_ip: Option<String>,
    /// This boot's id.
    pub boot_id: String,
    /// The image it booted (reported as the OS image).
    pub image: String,
}

/// The Node as the kubelet registers it (`ready`: the Ready condition's status).
pub fn node_object(plan: &KubeletPlan, facts: &NodeFacts, now: &str, ready: bool) -> Value {
    let mut spec = json!({});
    if let Some(id) = &plan.provider_id {
        spec["providerID"] = json!(id);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": plan.node_name, "labels": plan.labels},
        "spec": spec,
        "status": node_status(plan, facts, now, ready),
    })
}

/// The Node's status as the kubelet posts it.
pub fn node_status(plan: &KubeletPlan, facts: &NodeFacts, now: &str, ready: bool) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        ("False", "KubeletNotReady", "node is shutting down")
    };
    let mut addresses = vec![json!({"type": "Hostname", "address": plan.node_name})];
    if let Some(ip) = &facts.internal_ip {
        addresses.insert(0, json!({"type": "InternalIP", "address": ip}));
    }
    json!({
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", status, reason, message),
        ],
        "addresses": addresses,
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "nodeInfo": {
            "machineID": facts.system_uuid.replace('-', ""),
            "systemUUID": facts.system_uuid,
            "bootID": facts.boot_id,
            "kernelVersion": "6.1.0-metal-sim",
            "osImage": facts.image,
            "containerRuntimeVersion": "containerd://2.0.0",
            "kubeletVersion": "v1.36.3",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// The Node's Lease in `kube-node-lease`, owned by the Node.
pub fn lease_object(plan: &KubeletPlan, node_uid: &str, now_micro: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": plan.node_name,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": plan.node_name, "uid": node_uid}],
        },
        "spec": {"holderIdentity": plan.node_name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now_micro},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(user: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\n\
             clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {}\n\
             users:\n- name: u\n  user:\n{user}",
            b("CA PEM"),
        )
        .replace("{CERT}", &b("CERT PEM"))
        .replace("{KEY}", &b("KEY PEM"))
    }

    fn booted(files: &[(&str, String)]) -> CloudInit {
        CloudInit {
            hostname: Some("Openshift-Worker-0".into()),
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            notes: vec![],
        }
    }

    #[test]
    fn the_kubelet_registers_the_hostname_with_its_flags_labels() {
        let conf = kubeconfig("    client-certificate-data: {CERT}\n    client-key-data: {KEY}\n");
        let flags = "KUBELET_EXTRA_ARGS=\"--node-labels=metal3.io/uuid=abc,role=worker --v=2\"\n"
            .to_string();
        let plan = plan(&booted(&[
            (KUBECONFIG_PATH, conf),
            ("/etc/default/kubelet", flags),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(plan.node_name, "openshift-worker-0");
        assert_eq!(plan.labels["metal3.io/uuid"], "abc");
        assert_eq!(plan.labels["role"], "worker");
        assert_eq!(plan.labels["kubernetes.io/hostname"], "openshift-worker-0");
        assert_eq!(plan.api.server, "https://127.0.0.1:6443");
        assert_eq!(plan.api.ca_pem.as_deref(), Some("CA PEM"));
        assert_eq!(
            plan.api.credentials,
            Credentials::Certificate {
                cert_pem: "CERT PEM".into(),
                key_pem: "KEY PEM".into()
            }
        );
        let node = node_object(
            &plan,
            &NodeFacts {
                system_uuid: "1111-22".into(),
                internal_ip: Some("10.0.0.5".into()),
                boot_id: "b".into(),
                image: "img".into(),
            },
            "2026-01-01T00:00:00Z",
            true,
        );
        assert_eq!(node["metadata"]["labels"]["metal3.io/uuid"], "abc");
        assert_eq!(node["status"]["conditions"][3]["status"], "True");
        assert_eq!(node["status"]["addresses"][0]["address"], "10.0.0.5");
        assert!(node["spec"].get("providerID").is_none());
    }

    #[test]
    fn no_kubeconfig_no_kubelet_and_bad_ones_say_why() {
        assert_eq!(plan(&booted(&[])), Ok(None));
        let token = kubeconfig("    token: t0k\n");
        let p = plan(&booted(&[
            (KUBECONFIG_PATH, token.clone()),
            (
                "/etc/sysconfig/kubelet",
                "KUBELET_EXTRA_ARGS=--provider-id=metal3://x --hostname-override=w1".into(),
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(p.api.credentials, Credentials::Token("t0k".into()));
        assert_eq!(p.provider_id.as_deref(), Some("metal3://x"));
        assert_eq!(p.node_name, "w1");
        let err = |files: &[(&str, String)]| plan(&booted(files)).unwrap_err();
        assert!(err(&[(KUBECONFIG_PATH, "{".into())]).contains("not a kubeconfig"));
        assert!(err(&[(KUBECONFIG_PATH, kubeconfig("    username: x\n"))]).contains("neither"));
        assert!(
            err(&[
                (KUBECONFIG_PATH, token.clone()),
                (
                    "/etc/default/kubelet",
                    "KUBELET_EXTRA_ARGS=--node-labels=oops".into()
                )
            ])
            .contains("KEY=VALUE")
        );
        let mut no_host = booted(&[(KUBECONFIG_PATH, token)]);
        no_host.hostname = Some("bad_name".into());
        assert!(
            plan(&no_host)
                .unwrap_err()
                .contains("not a valid Node name")
        );
    }
}
