//! The config drive as real Ironic hands it to the agent, read by the simulated guest: openstacksdk's
//! `openstack.baremetal.configdrive.build` (what Ironic's conductor calls to turn a JSON config
//! drive into the ISO it gives IPA: genisoimage, gzip, base64) makes the drive, and
//! `guest::ConfigDrive` must read back the same meta data, user data and network data.

use metal_sim::guest::ConfigDrive;
use serde_json::{Value, json};

#[test]
fn a_config_drive_built_by_openstacksdk_is_read_back_whole() {
    let Some(python) = metal_testkit::peers::peer("python3") else {
        return;
    };
    let script = r###"
import json, sys
from openstack.baremetal import configdrive
meta = {"uuid": "0b2e6a1c-5f0e-4c11-9d5e-3c2f1a7b8e90", "local-hostname": "openshift-worker-0",
        "metal3-namespace": "metal3", "name": "openshift-worker-0"}
user = b"## template: jinja\n#cloud-config\nwrite_files:\n- path: /etc/default/kubelet\n  content: x\n"
net = {"links": [{"id": "eth0", "type": "phy", "ethernet_mac_address": "52:54:00:00:00:01"}]}
sys.stdout.write(configdrive.build(meta, user_data=user, network_data=net))
"###;
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "openstacksdk's configdrive.build failed (genisoimage is installed by scripts/peers.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("base64 text");
    let drive = ConfigDrive::from_agent_argument(Some(&Value::String(text))).expect("a drive");
    let ConfigDrive::Documents {
        meta_data,
        user_data,
        network_data,
    } = &drive
    else {
        panic!("openstacksdk's drive was not read: {drive:?}");
    };
    assert_eq!(meta_data["uuid"], "0b2e6a1c-5f0e-4c11-9d5e-3c2f1a7b8e90");
    assert_eq!(
        drive.meta("local-hostname").as_deref(),
        Some("openshift-worker-0")
    );
    assert!(
        user_data
            .as_deref()
            .is_some_and(|u| u.starts_with("## template: jinja\n#cloud-config")),
        "{user_data:?}"
    );
    assert_eq!(
        network_data.as_ref().map(|n| &n["links"][0]["id"]),
        Some(&json!("eth0"))
    );
}
