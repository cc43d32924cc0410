//! Fleet files: determinism for a seed, errors that point at the file, line and column, the
//! manifests, and every example under fleets/.

use metal_sim::fleet::{Fleet, FleetError, manifests};
use metal_sim::machine::{BmcProtocol, SimClock};

const SMALL: &str = "\
seed: 7
time_scale: 0.01
groups:
  - name: node-{index:02}
    count: 3
    profile: compute
  - name: gpu-{index}
    count: 1
    profile: gpu
    bmc: {protocol: ipmi, username: root, password: calvin}
    labels: {rack: r1}
";

fn identities(f: &Fleet) -> Vec<(String, String, String, Vec<String>)> {
    f.hosts()
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                h.profile.system.uuid.to_string(),
                h.profile.system.serial.clone(),
                h.profile.nics.iter().map(|n| n.mac.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn same_seed_gives_the_same_profiles_macs_and_uuids() {
    let a = Fleet::parse(SMALL, "a.yaml").unwrap();
    let b = Fleet::parse(SMALL, "b.yaml").unwrap();
    assert_eq!(identities(&a), identities(&b));
    assert_eq!(a.hosts()[3].profile, b.hosts()[3].profile);
    let other = Fleet::parse(&SMALL.replace("seed: 7", "seed: 8"), "c.yaml").unwrap();
    let (ia, io) = (identities(&a), identities(&other));
    assert_eq!(ia[0].0, io[0].0, "names do not depend on the seed");
    assert_ne!(ia[0].1, io[0].1, "UUIDs do");
    assert_ne!(ia[0].3, io[0].3, "MACs do");
}

#[test]
fn names_credentials_and_addresses_follow_the_groups() {
    let f = Fleet::parse(SMALL, "a.yaml").unwrap();
    let names: Vec<&str> = f.hosts().iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["node-00", "node-01", "node-02", "gpu-0"]);
    let gpu = &f.hosts()[3];
    assert_eq!(gpu.bmc.protocol, BmcProtocol::Ipmi);
    assert_eq!(gpu.bmc.credentials.username, "root");
    assert_eq!(gpu.bmc.address(), "ipmi://127.0.1.4:623");
    assert_eq!(gpu.labels["rack"], "r1");
    let first = &f.hosts()[0];
    assert_eq!(
        first.bmc.address(),
        format!(
            "redfish+http://127.0.1.1:8000/redfish/v1/Systems/{}",
            first.profile.system.uuid
        )
    );
}

fn error_of(text: &str) -> (usize, usize, String) {
    match Fleet::parse(text, "bad.yaml") {
        Err(FleetError::Invalid {
            file,
            line,
            column,
            message,
        }) => {
            assert_eq!(file, "bad.yaml");
            (line, column, message)
        }
        other => panic!("expected an invalid-fleet error, got {other:?}"),
    }
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let (line, column, _) = error_of("seed: 1\ngroups:\n  - name: a\n    count: [oops\n");
    assert_eq!(line, 4, "the line of the unclosed flow sequence");
    assert!(column >= 1);
}

#[test]
fn an_unknown_field_names_its_line_and_column() {
    let (line, column, message) = error_of("seed: 1\ngroups:\n  - name: a\n    colour: red\n");
    assert_eq!((line, column), (4, 5));
    assert!(message.contains("colour"), "{message}");
}

#[test]
fn an_unknown_profile_points_at_its_line() {
    let text = "groups:\n  - name: a\n  - name: b-{index}\n    count: 2\n    profile: gpux\n";
    let (line, column, message) = error_of(text);
    assert_eq!((line, column), (5, 5));
    assert!(message.contains("unknown profile \"gpux\""), "{message}");
    assert!(message.contains("compute, gpu, small"), "{message}");
}

#[test]
fn a_group_of_several_hosts_without_an_index_placeholder_is_refused() {
    let (line, _, message) = error_of("groups:\n  - name: a\n  - name: same\n    count: 2\n");
    assert_eq!(line, 3);
    assert!(message.contains("no {index}"), "{message}");
}

#[test]
fn duplicate_host_names_across_groups_are_refused() {
    let (line, _, message) =
        error_of("groups:\n  - name: n-{index}\n    count: 2\n  - name: n-1\n");
    assert_eq!(line, 4);
    assert!(message.contains("\"n-1\" is used twice"), "{message}");
}

#[test]
fn a_huge_time_scale_or_index_width_is_an_error_not_a_panic() {
    // Both used to get through: the width to a format! that allocates without bound, the scale to
    // a Duration multiplication that panics on overflow.
    let (line, _, message) = error_of("time_scale: 1e300\ngroups:\n  - name: a\n");
    assert_eq!(line, 1);
    assert!(
        message.contains("time_scale must be a number from 0 to 1000"),
        "{message}"
    );
    let (line, _, message) = error_of("groups:\n  - name: a-{index:099999999999}\n    count: 2\n");
    assert_eq!(line, 2);
    assert!(message.contains("bad width"), "{message}");
    let fleet = Fleet::parse(
        "time_scale: 1000\ngroups:\n  - name: a-{index:020}\n",
        "ok.yaml",
    );
    assert!(fleet.is_ok(), "{:?}", fleet.err());
}

#[test]
fn out_of_range_faults_and_non_loopback_bases_are_refused() {
    let (line, _, message) =
        error_of("groups:\n  - name: a\n    faults:\n      http_5xx_rate: 2\n");
    assert_eq!(line, 3);
    assert!(message.contains("http_5xx_rate"), "{message}");
    let (line, _, message) = error_of("layout:\n  base: 10.1.2.3\ngroups:\n  - name: a\n");
    assert_eq!(line, 1);
    assert!(message.contains("not in 127.0.0.0/8"), "{message}");
}

#[test]
fn a_missing_file_error_names_the_file() {
    let err = Fleet::load(std::path::Path::new("/nonexistent/fleet.yaml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/fleet.yaml: cannot read"),
        "{err}"
    );
}

#[test]
fn manifests_parse_as_secret_and_baremetalhost_pairs() {
    let f = Fleet::parse(SMALL, "a.yaml").unwrap();
    let text = manifests(&f).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 8);
    for (pair, host) in docs.chunks(2).zip(f.hosts()) {
        let (secret, bmh) = (&pair[0], &pair[1]);
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(
            secret["metadata"]["name"].as_str().unwrap(),
            format!("{}-bmc-secret", host.name)
        );
        assert_eq!(bmh["kind"], "BareMetalHost");
        assert_eq!(bmh["apiVersion"], "metal3.io/v1alpha1");
        assert_eq!(bmh["metadata"]["namespace"], "metal3");
        assert_eq!(
            bmh["spec"]["bmc"]["address"].as_str().unwrap(),
            host.bmc.address()
        );
        assert_eq!(
            bmh["spec"]["bmc"]["credentialsName"],
            secret["metadata"]["name"]
        );
        assert_eq!(
            bmh["spec"]["bootMACAddress"].as_str().unwrap(),
            host.profile.boot_mac().unwrap()
        );
    }
    assert_eq!(docs[7]["metadata"]["labels"]["rack"], "r1");
    // "root" / "calvin" in base64.
    assert_eq!(docs[6]["data"]["username"], "cm9vdA==");
    assert_eq!(docs[6]["data"]["password"], "Y2Fsdmlu");
}

#[test]
fn every_example_fleet_in_the_repository_is_valid_and_builds_a_world() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fleets");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let fleet = Fleet::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let world = fleet
                .build_world(SimClock::start_now())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(world.hosts().len(), fleet.hosts().len());
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected the demo and at least two more examples in {dir:?}"
    );
}

#[test]
fn absurd_sizes_are_refused_instead_of_exhausting_memory() {
    let (line, _, message) = error_of("groups:\n  - name: n-{index}\n    count: 4000000000\n");
    assert_eq!(line, 2);
    assert!(message.contains("at most 100000 hosts"), "{message}");
    let text = "profiles:\n  huge:\n    vendor: V\n    model: M\n    bios: {vendor: V, version: '1', date: '2025-01-01'}\n    cpu: {arch: x86_64, model: C, count: 1, cores: 1, threads_per_core: 1, mhz: 1000, flags: []}\n    memory: {total_mib: 1024, dimms: 1, speed_mts: 2400}\n    nics: []\n    disks: []\n    pcie: [{class: gpu, count: 100000, vendor: V, model: G, vendor_id: '0x1', device_id: '0x2'}]\ngroups:\n  - name: h\n    profile: huge\n";
    let (line, _, message) = error_of(text);
    assert_eq!(line, 13);
    assert!(message.contains("at most 64 PCIe devices"), "{message}");
}
