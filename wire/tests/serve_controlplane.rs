//! `metal-sim serve --controlplane`: one process brings up the fleet and the embedded control plane
//! with the operator's CRDs registered, and the endpoints file names the kubeconfig kubectl uses.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use metal_sim::serve::Endpoints;
use metal_testkit::kubectl::Kubectl;
use metal_testkit::wait::{Check, Wait};

const FLEET: &str = "\
seed: 9
time_scale: 0.01
layout: {mode: per-address, base: 127.0.93.1, redfish_port: 18000, ipmi_port: 16230}
groups:
  - name: cp-rf-{index}
    count: 2
    bmc: {protocol: redfish, username: admin, password: secret}
";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_endpoints(path: &Path, server: &mut Server) -> Endpoints {
    Wait::new("the endpoints file", Duration::from_secs(30))
        .every(Duration::from_millis(50))
        .blocking(|| {
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(endpoints) = serde_json::from_str(&text)
            {
                return Check::Done(endpoints);
            }
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("metal-sim serve exited early with {status}");
            }
            Check::Pending("no complete file".into())
        })
        .unwrap()
}

#[test]
fn serve_with_a_control_plane_writes_the_kubeconfig_into_the_endpoints_file() {
    let Some(kubectl_bin) = support::peer("kubectl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.yaml");
    std::fs::write(&fleet, FLEET).unwrap();
    let endpoints_path = dir.path().join("endpoints.json");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_metal-sim"))
            .args([
                "serve",
                "--control",
                "127.0.0.1:0",
                "--controlplane",
                "127.0.0.1:0",
            ])
            .arg("--fleet")
            .arg(&fleet)
            .arg("--endpoints")
            .arg(&endpoints_path)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoints = wait_for_endpoints(&endpoints_path, &mut server);
    let named = endpoints
        .kubeconfig
        .expect("the endpoints file names the kubeconfig");
    assert_eq!(Path::new(&named), kubeconfig.as_path());
    let kubectl = Kubectl::new(&named).program(&kubectl_bin);

    let crds = kubectl
        .run_blocking(&["get", "crds", "-o", "name"])
        .unwrap();
    for crd in [
        "baremetalhosts.metal3.io",
        "hardwaredata.metal3.io",
        "hostclaims.metal3.io",
        "hostpools.metal-operator.io",
    ] {
        assert!(crds.contains(crd), "{crd} is not registered: {crds}");
    }
    // The fleet's own manifests are accepted by the control plane the same process started.
    let manifests = Command::new(env!("CARGO_BIN_EXE_metal-sim"))
        .args(["fleet", "manifests"])
        .arg(&fleet)
        .output()
        .unwrap();
    assert!(manifests.status.success());
    let manifests_path = dir.path().join("hosts.yaml");
    std::fs::write(&manifests_path, &manifests.stdout).unwrap();
    kubectl
        .run_blocking(&["create", "namespace", "metal3"])
        .unwrap();
    kubectl
        .run_blocking(&[
            "apply",
            "-n",
            "metal3",
            "-f",
            manifests_path.to_str().unwrap(),
        ])
        .unwrap();
    let hosts = kubectl
        .run_blocking(&["get", "bmh", "-n", "metal3", "-o", "name"])
        .unwrap();
    assert_eq!(
        hosts.lines().count(),
        2,
        "both fleet hosts are stored: {hosts}"
    );
}
