//! The external-cluster fleet (`fleets/e2e-kind.yaml`) must serve every host of every end-to-end
//! fleet (`fleets/e2e-*.yaml`) with the same name, profile, protocol, credentials and labels: in kind
//! mode tests register their hosts against that one simulator.

use std::path::Path;

use anyhow::Context as _;
use metal_sim::fleet::Fleet;

/// The file the simulator in an external cluster serves.
pub const KIND_FLEET: &str = "fleets/e2e-kind.yaml";

/// Differences between the per-test fleets under `root/fleets` and the kind fleet (empty = in step).
pub fn kind_fleet_differences(root: &Path) -> anyhow::Result<Vec<String>> {
    let kind = Fleet::load(&root.join(KIND_FLEET))?;
    let mut problems = Vec::new();
    let dir = root.join("fleets");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("e2e-") && n.ends_with(".yaml") && n != "e2e-kind.yaml"
            })
        })
        .collect();
    files.sort();
    let mut seen = std::collections::BTreeMap::new();
    for file in files {
        let fleet = Fleet::load(&file)?;
        let label = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for host in fleet.hosts() {
            if let Some(other) = seen.insert(host.name.clone(), label.clone()) {
                problems.push(format!("{}: host {} is also in {other}", label, host.name));
            }
            match kind.hosts().iter().find(|k| k.name == host.name) {
                None => problems.push(format!(
                    "{label}: host {} is missing from {KIND_FLEET}",
                    host.name
                )),
                Some(k) => {
                    let same = k.profile.profile == host.profile.profile
                        && k.bmc.protocol == host.bmc.protocol
                        && k.bmc.credentials.username == host.bmc.credentials.username
                        && k.bmc.credentials.password == host.bmc.credentials.password
                        && k.labels == host.labels;
                    if !same {
                        problems.push(format!(
                            "{label}: host {} differs in {KIND_FLEET} (profile, protocol, credentials or labels)",
                            host.name
                        ));
                    }
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_fleet_serves_every_host_of_every_e2e_fleet() {
        let problems = kind_fleet_differences(&crate::binaries::workspace_root()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
