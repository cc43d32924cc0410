//! A test's fleet: the fleet file it names (fleets/e2e-*.yaml), the hosts as the running simulator
//! serves them, and the BareMetalHost + Secret YAML a user would apply for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use metal_sim::fleet::{Fleet, LayoutMode};
use metal_testkit::hosts::Bmh;
use serde_json::json;

use crate::loopback::Needs;
use crate::sim::HostTruth;

/// A fleet file loaded for a test.
#[derive(Debug)]
pub struct TestFleet {
    /// Absolute path of the file.
    pub path: PathBuf,
    /// The parsed fleet.
    pub fleet: Fleet,
}

impl TestFleet {
    /// Loads `relative` (to the workspace root), e.g. `fleets/e2e-lifecycle.yaml`.
    pub fn load(root: &Path, relative: &str) -> anyhow::Result<TestFleet> {
        let path = root.join(relative);
        let fleet = Fleet::load(&path).with_context(|| format!("loading {}", path.display()))?;
        Ok(TestFleet { path, fleet })
    }

    /// Host names in file order.
    pub fn names(&self) -> Vec<String> {
        self.fleet.hosts().iter().map(|h| h.name.clone()).collect()
    }

    /// What the fleet binds when each BMC gets its own address in a test's subnet.
    pub fn needs(&self, operators: usize) -> anyhow::Result<Needs> {
        let layout = &self.fleet.file.layout;
        if layout.mode != LayoutMode::PerAddress {
            bail!(
                "{}: end-to-end fleets use the per-address layout (each test gets its own subnet)",
                self.path.display()
            );
        }
        if self.fleet.hosts().iter().any(|h| h.bmc.tls) {
            bail!(
                "{}: end-to-end fleets use plain HTTP BMCs",
                self.path.display()
            );
        }
        Ok(Needs {
            bmcs: self.fleet.hosts().len(),
            redfish_port: layout.redfish_port,
            ipmi_port: layout.ipmi_port.unwrap_or(623),
            operators,
        })
    }

    /// Joins the fleet file (credentials, labels) with the simulator's view (addresses, MACs).
    pub fn hosts(&self, served: &[HostTruth]) -> anyhow::Result<Vec<FleetHost>> {
        let by_name: BTreeMap<&str, &HostTruth> =
            served.iter().map(|h| (h.name.as_str(), h)).collect();
        self.fleet
            .hosts()
            .iter()
            .map(|spec| {
                let truth = by_name.get(spec.name.as_str()).with_context(|| {
                    format!(
                        "host {} of {} is not served by the simulator",
                        spec.name,
                        self.path.display()
                    )
                })?;
                Ok(FleetHost {
                    name: spec.name.clone(),
                    protocol: truth.protocol.clone(),
                    profile: truth.profile.clone(),
                    address: truth.address.clone(),
                    boot_mac: truth.boot_mac.clone(),
                    username: spec.bmc.credentials.username.clone(),
                    password: spec.bmc.credentials.password.clone(),
                    labels: spec.labels.clone(),
                })
            })
            .collect()
    }
}

/// One host of the test's fleet, ready to be registered.
#[derive(Clone)]
pub struct FleetHost {
    /// Host (and BareMetalHost) name.
    pub name: String,
    /// `redfish`, `redfish-virtualmedia` or `ipmi`.
    pub protocol: String,
    /// Hardware profile name (`compute`, `gpu`, `small`, ...).
    pub profile: String,
    /// `spec.bmc.address`.
    pub address: String,
    /// `spec.bootMACAddress`.
    pub boot_mac: Option<String>,
    /// BMC user name.
    pub username: String,
    /// BMC password.
    pub password: String,
    /// Labels for the BareMetalHost.
    pub labels: BTreeMap<String, String>,
}

impl std::fmt::Debug for FleetHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetHost")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("profile", &self.profile)
            .field("address", &self.address)
            .field("boot_mac", &self.boot_mac)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("labels", &self.labels)
            .finish()
    }
}

impl FleetHost {
    /// The name of its BMC credentials Secret.
    pub fn secret_name(&self) -> String {
        format!("{}-bmc-secret", self.name)
    }
}

/// A multi-document YAML stream: for each host its BMC Secret and its BareMetalHost, whose spec is the
/// BMC details laid over with the fields of `spec` (e.g. `{"online": true}`).
pub fn manifests(
    namespace: &str,
    hosts: &[FleetHost],
    spec: &serde_json::Value,
) -> anyhow::Result<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    for h in hosts {
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": h.secret_name(), "namespace": namespace},
            "type": "Opaque",
            "data": {"username": b64.encode(&h.username), "password": b64.encode(&h.password)},
        });
        // No `online`: the host's default, unless `spec` says.
        let mut host = Bmh::new(&h.name)
            .namespace(namespace)
            .labels(json!(h.labels))
            .without("/spec/online")
            .set("/spec/bootMode", json!("UEFI"))
            .bmc(&h.address, &h.secret_name());
        if let Some(mac) = &h.boot_mac {
            host = host.boot_mac(mac);
        }
        for (field, value) in spec.as_object().into_iter().flatten() {
            host = host.set(&format!("/spec/{field}"), value.clone());
        }
        let host = host.json();
        for doc in [secret, host] {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&doc).context("rendering YAML")?);
        }
    }
    Ok(out)
}
