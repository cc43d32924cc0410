//! python-ironicclient's `baremetal` CLI against REAL Ironic 39.0.0 and the mock, side by side,
//! for the resources the mock gained with #17: node traits, port groups and ports in them, volume
//! connectors and targets, deploy templates and allocations — create, show, list, set/unset,
//! invalid input, delete. Each command must succeed or fail on both, with the same field names
//! and, once UUIDs and times are labels, the same values; a failing command's error text must
//! match too.

#[path = "ironic_real/mod.rs"]
mod ironic_real;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use metal_sim::ironic::conductor::Timings;
use serde_json::Value;
use support::ironic::run_client;

/// One server of the pair and the UUIDs its commands created, by label.
struct Cli {
    bin: PathBuf,
    url: String,
    labels: BTreeMap<String, String>,
}

impl Cli {
    /// Runs `args` (`{label}` standing for a UUID created earlier); the answer as a comparable
    /// line. A created object's UUID is remembered under `label` when given.
    fn run(&mut self, args: &[&str], label: Option<&str>) -> String {
        let resolved: Vec<String> = args
            .iter()
            .map(|a| {
                let mut a = a.to_string();
                for (l, u) in &self.labels {
                    a = a.replace(&format!("{{{l}}}"), u);
                }
                a
            })
            .collect();
        let refs: Vec<&str> = resolved.iter().map(String::as_str).collect();
        let ran = run_client(&self.bin, &refs, &self.url);
        let mut out = if ran.ok {
            let mut v: Value = serde_json::from_str(&ran.stdout).unwrap_or(Value::Null);
            if let (Some(l), Some(u)) = (label, v["uuid"].as_str()) {
                self.labels.insert(l.to_string(), u.to_string());
            }
            ironic_real::compare::blank_times(&mut v);
            format!("ok {}", serde_json::to_string(&v).unwrap())
        } else {
            // The CLI's last line carries Ironic's faultstring (with its HTTP status) and, from
            // real Ironic, the request id header the mock does not send.
            let last = ran.stderr.lines().last().unwrap_or_default();
            let last = last.split(" (Request-ID:").next().unwrap_or_default();
            format!("failed {last}")
        };
        out = out.replace(&self.url, "<base>");
        for (l, u) in &self.labels {
            out = out.replace(u.as_str(), &format!("<{l}>"));
        }
        unlabelled_uuids(&out)
    }
}

/// Replaces the UUIDs no label names (those of objects created by a failing command) by `<uuid>`.
fn unlabelled_uuids(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let candidate = rest
            .get(..36)
            .filter(|c| uuid::Uuid::parse_str(c).is_ok() && c.as_bytes()[8] == b'-');
        match candidate {
            Some(_) => {
                out.push_str("<uuid>");
                rest = &rest[36..];
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn cli(bin: &Path, url: &str) -> Cli {
    Cli {
        bin: bin.to_path_buf(),
        url: url.to_string(),
        labels: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_baremetal_cli_sees_the_new_resources_alike_on_real_ironic_and_the_mock() {
    let Some(bin) = support::peer("baremetal") else {
        return;
    };
    let Some((real, mock, task)) = ironic_real::start_real_and_mock(Timings::instant(), 7).await
    else {
        return;
    };
    let real_url = real.url().to_string();
    let differences = tokio::task::spawn_blocking(move || {
        let mut servers = [cli(&bin, &real_url), cli(&bin, &mock)];
        let v = "--os-baremetal-api-version";
        let steps: Vec<(Vec<&str>, Option<&str>)> = vec![
            (vec!["node", "create", "--driver", "fake-hardware", "--name", "c-n1", v, "1.89", "-f", "json"], Some("c-n1")),
            (vec!["node", "add", "trait", "c-n1", "CUSTOM_A", "HW_CPU_X86_AVX2", v, "1.89"], None),
            (vec!["node", "add", "trait", "c-n1", "custom_bad", v, "1.89"], None),
            (vec!["node", "trait", "list", "c-n1", v, "1.89", "-f", "json"], None),
            (vec!["node", "remove", "trait", "c-n1", "CUSTOM_A", v, "1.89"], None),
            (vec!["node", "remove", "trait", "c-n1", "CUSTOM_ZZZ", v, "1.89"], None),
            (vec!["node", "trait", "list", "c-n1", v, "1.89", "-f", "json"], None),
            (vec!["port", "group", "create", "--node", "{c-n1}", "--name", "bond0", "--address", "52:54:00:00:10:01", "--mode", "802.3ad", "--property", "miimon=100", v, "1.89", "-f", "json"], Some("bond0")),
            (vec!["port", "group", "create", "--node", "{c-n1}", "--name", "bond0", v, "1.89", "-f", "json"], None),
            (vec!["port", "group", "show", "bond0", v, "1.89", "-f", "json"], None),
            (vec!["port", "group", "list", "--long", v, "1.89", "-f", "json"], None),
            (vec!["port", "create", "52:54:00:00:10:02", "--node", "{c-n1}", "--port-group", "{bond0}", v, "1.89", "-f", "json"], Some("port")),
            (vec!["port", "list", "--port-group", "bond0", v, "1.89", "-f", "json"], None),
            (vec!["port", "group", "set", "bond0", "--extra", "k=v", v, "1.89"], None),
            (vec!["port", "group", "delete", "bond0", v, "1.89"], None),
            (vec!["port", "delete", "{port}", v, "1.89"], None),
            (vec!["port", "group", "delete", "bond0", v, "1.89"], None),
            (vec!["volume", "connector", "create", "--node", "{c-n1}", "--type", "iqn", "--connector-id", "iqn.2010-10.org.openstack:c1", v, "1.89", "-f", "json"], Some("conn")),
            (vec!["volume", "connector", "list", "--node", "{c-n1}", "--long", v, "1.89", "-f", "json"], None),
            (vec!["volume", "connector", "set", "{conn}", "--extra", "k=v", v, "1.89"], None),
            (vec!["volume", "target", "create", "--node", "{c-n1}", "--type", "iscsi", "--volume-id", "vol-1", "--boot-index", "0", "--property", "auth_password=s", v, "1.89", "-f", "json"], Some("target")),
            (vec!["volume", "target", "show", "{target}", v, "1.89", "-f", "json"], None),
            (vec!["volume", "target", "delete", "{target}", v, "1.89"], None),
            (vec!["volume", "connector", "delete", "{conn}", v, "1.89"], None),
            (vec!["deploy", "template", "create", "CUSTOM_HT", "--steps", r#"[{"interface": "bios", "step": "apply_configuration", "args": {}, "priority": 150}]"#, v, "1.89", "-f", "json"], Some("template")),
            (vec!["deploy", "template", "create", "bad", "--steps", r#"[{"interface": "bios", "step": "x", "args": {}, "priority": 1}]"#, v, "1.89", "-f", "json"], None),
            (vec!["deploy", "template", "list", "--long", v, "1.89", "-f", "json"], None),
            (vec!["deploy", "template", "set", "CUSTOM_HT", "--name", "CUSTOM_HT2", v, "1.89"], None),
            (vec!["deploy", "template", "show", "CUSTOM_HT2", v, "1.89", "-f", "json"], None),
            (vec!["deploy", "template", "delete", "CUSTOM_HT2", v, "1.89"], None),
            (vec!["allocation", "create", "--resource-class", "none-such", "--name", "al-1", "--wait", "30", v, "1.89", "-f", "json"], None),
            (vec!["allocation", "list", "--state", "error", v, "1.89", "-f", "json"], None),
            (vec!["allocation", "delete", "al-1", v, "1.89"], None),
            (vec!["node", "delete", "c-n1", v, "1.89"], None),
        ];
        let mut differences = Vec::new();
        for (args, label) in steps {
            let seen: Vec<String> = servers.iter_mut().map(|s| s.run(&args, label)).collect();
            println!("baremetal {}\n  real: {}\n  mock: {}", args.join(" "), seen[0], seen[1]);
            if seen[0] != seen[1] {
                differences.push(format!("baremetal {}\n  real: {}\n  mock: {}", args.join(" "), seen[0], seen[1]));
            }
        }
        differences
    })
    .await
    .expect("the CLI steps");
    task.abort();
    drop(real);
    assert!(
        differences.is_empty(),
        "the baremetal CLI sees the mock differently from real Ironic:\n{}",
        differences.join("\n")
    );
}
