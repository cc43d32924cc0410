//! Real OpenStack clients against the mock Ironic: python-ironicclient's `baremetal` CLI and openstacksdk
//! drive a fake-hardware node through its whole lifecycle.

mod support;

use metal_sim::ironic::conductor::{Settings, Timings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use support::ironic::{baremetal, run_client};

async fn start_mock() -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let mock =
        support::ironic::start_mock(Settings::with(Timings::fake_hardware(), false), 11).await;
    (mock.url, mock.task)
}

fn show(bin: &Path, url: &str, node: &str) -> Value {
    let out = baremetal(bin, url, &["node", "show", node, "-f", "json"]);
    serde_json::from_str(&out).expect("node show json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baremetal_cli_drives_a_fake_hardware_node_through_its_lifecycle() {
    let Some(bin) = support::peer("baremetal") else {
        return;
    };
    let (url, server) = start_mock().await;
    let result = tokio::task::spawn_blocking(move || {
        let b = bin.as_path();
        let created = baremetal(
            b,
            &url,
            &[
                "node",
                "create",
                "--driver",
                "fake-hardware",
                "--name",
                "cli-1",
                "-f",
                "json",
            ],
        );
        let node: Value = serde_json::from_str(&created).expect("create json");
        let uuid = node["uuid"].as_str().expect("uuid").to_string();
        assert_eq!(node["provision_state"], "enroll");
        baremetal(
            b,
            &url,
            &["port", "create", "52:54:00:12:34:56", "--node", &uuid],
        );
        let ports = baremetal(b, &url, &["port", "list", "--node", &uuid, "-f", "json"]);
        let parsed: Value = serde_json::from_str(&ports).expect("ports json");
        assert_eq!(parsed[0]["address"], "52:54:00:12:34:56", "{ports}");
        let by_addr = baremetal(
            b,
            &url,
            &[
                "port",
                "list",
                "--address",
                "52:54:00:12:34:56",
                "-f",
                "json",
            ],
        );
        let by_addr: Value = serde_json::from_str(&by_addr).expect("ports json");
        assert_eq!(by_addr[0]["uuid"], parsed[0]["uuid"]);
        let validate = baremetal(b, &url, &["node", "validate", "cli-1", "-f", "json"]);
        assert!(validate.contains("\"power\""), "{validate}");
        let mut states = Vec::new();
        for verb in [
            "manage", "provide", "manage", "inspect", "provide", "deploy", "undeploy",
        ] {
            let mut args = vec!["node", verb, "cli-1", "--wait", "60"];
            if verb == "deploy" {
                args.extend([
                    "--config-drive",
                    "{\"meta_data\": {\"hostname\": \"cli-1\"}}",
                ]);
            }
            baremetal(b, &url, &args);
            states.push(
                show(b, &url, "cli-1")["provision_state"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            );
        }
        assert_eq!(
            states,
            [
                "manageable",
                "available",
                "manageable",
                "manageable",
                "available",
                "active",
                "available"
            ]
        );
        baremetal(
            b,
            &url,
            &["node", "power", "on", "cli-1", "--power-timeout", "30"],
        );
        assert_eq!(show(b, &url, "cli-1")["power_state"], "power on");
        baremetal(
            b,
            &url,
            &["node", "power", "off", "cli-1", "--power-timeout", "30"],
        );
        assert_eq!(show(b, &url, "cli-1")["power_state"], "power off");
        baremetal(
            b,
            &url,
            &[
                "node",
                "maintenance",
                "set",
                "cli-1",
                "--reason",
                "checking",
            ],
        );
        let n = show(b, &url, "cli-1");
        assert_eq!(
            (n["maintenance"].clone(), n["maintenance_reason"].clone()),
            (Value::Bool(true), Value::from("checking"))
        );
        baremetal(b, &url, &["node", "maintenance", "unset", "cli-1"]);
        assert_eq!(show(b, &url, "cli-1")["maintenance"], false);
        let listed = baremetal(
            b,
            &url,
            &[
                "node",
                "list",
                "--provision-state",
                "available",
                "-f",
                "json",
            ],
        );
        assert!(listed.contains("cli-1"), "{listed}");
        let ran = run_client(b, &["node", "provide", "cli-1"], &url);
        assert!(!ran.ok, "provide from available must fail");
        assert!(
            ran.stderr.contains("can not be performed on node"),
            "{}",
            ran.stderr
        );
        baremetal(b, &url, &["node", "delete", "cli-1"]);
        let ran = run_client(b, &["node", "show", "cli-1"], &url);
        assert!(
            !ran.ok && ran.stderr.contains("could not be found"),
            "{}",
            ran.stderr
        );
    })
    .await;
    server.abort();
    result.expect("cli sequence");
}

const SDK_SCRIPT: &str = r#"
import sys, openstack
conn = openstack.connection.Connection(auth_type="none", baremetal_endpoint_override=sys.argv[1],
                                       baremetal_api_version="1.89")
node = conn.baremetal.create_node(driver="fake-hardware", name="sdk-1")
assert node.provision_state == "enroll", node.provision_state
conn.baremetal.create_port(address="52:54:00:ab:cd:ef", node_uuid=node.id)
assert [p.address for p in conn.baremetal.ports(node=node.id)] == ["52:54:00:ab:cd:ef"]
v = conn.baremetal.validate_node(node, required=("power", "management"))
states = []
for target in ("manage", "provide", "active", "deleted"):
    n = conn.baremetal.set_node_provision_state(node, target, wait=True, timeout=60)
    states.append(n.provision_state)
assert states == ["manageable", "available", "active", "available"], states
conn.baremetal.set_node_power_state(node, "power on", wait=True, timeout=30)
assert conn.baremetal.get_node(node.id).power_state == "power on"
conn.baremetal.set_node_maintenance(node, reason="sdk")
assert conn.baremetal.get_node("sdk-1").is_maintenance
conn.baremetal.unset_node_maintenance(node)
assert not conn.baremetal.get_node("sdk-1").is_maintenance
names = [n.name for n in conn.baremetal.nodes(provision_state="available")]
assert names == ["sdk-1"], names
conn.baremetal.delete_node(node)
assert list(conn.baremetal.nodes()) == []
print("SDK-OK")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstacksdk_drives_a_fake_hardware_node_through_its_lifecycle() {
    let Some(venv) = support::venv().filter(|v| v.join("bin/python").exists()) else {
        support::peer("python-with-openstacksdk");
        return;
    };
    let python: PathBuf = venv.join("bin/python");
    let (url, server) = start_mock().await;
    let out =
        tokio::task::spawn_blocking(move || run_client(&python, &["-c", SDK_SCRIPT, &url], ""))
            .await;
    server.abort();
    let ran = out.expect("sdk");
    assert!(
        ran.ok && ran.stdout.contains("SDK-OK"),
        "openstacksdk script failed:\nstdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
}
