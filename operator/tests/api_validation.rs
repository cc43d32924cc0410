//! The bad-input table: every webhook-style check names the field path and the offending value.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::SecretReference;
use metal_operator::api::annotations;
use metal_operator::api::validation::is_mac_address;
use metal_operator::api::{
    BareMetalHost, BareMetalHostSpec, BareMetalHostStatus, BmcDetails, BootMode, ChecksumType,
    CustomDeploy, FieldErrorKind, FirmwareConfig, HardwareRaidLevel, HardwareRaidVolume, Image,
    ImageFormat, InspectionMode, OperationalStatus, ProvisioningState, RaidConfig, RootDeviceHints,
    SoftwareRaidLevel, SoftwareRaidVolume, validate_host, validate_host_update,
};

fn good_host() -> BareMetalHost {
    let mut host = BareMetalHost::new(
        "worker-0",
        BareMetalHostSpec {
            bmc: BmcDetails {
                address: "redfish://192.0.2.10/redfish/v1/Systems/1".into(),
                credentials_name: "worker-0-bmc".into(),
                disable_certificate_verification: true,
            },
            boot_mac_address: Some("00:5c:52:31:3a:9c".into()),
            online: true,
            image: Some(Image {
                url: "http://images.example/os.qcow2".into(),
                checksum: Some("http://images.example/os.qcow2.sha256sum".into()),
                checksum_type: Some(ChecksumType::Sha256),
                format: Some(ImageFormat::Qcow2),
                oci_auth_secret_name: None,
            }),
            ..Default::default()
        },
    );
    host.metadata.namespace = Some("metal3".into());
    host
}

fn disks(n: usize) -> Vec<RootDeviceHints> {
    (0..n)
        .map(|i| RootDeviceHints {
            device_name: Some(format!("/dev/sd{}", (b'a' + i as u8) as char)),
            ..Default::default()
        })
        .collect()
}

fn sw(level: SoftwareRaidLevel, root_volume: bool) -> SoftwareRaidVolume {
    SoftwareRaidVolume {
        level,
        physical_disks: disks(2),
        root_volume,
        ..Default::default()
    }
}

fn annotate(host: &mut BareMetalHost, key: &str, value: &str) {
    host.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.into(), value.into());
}

fn secret(name: &str, namespace: &str) -> Option<SecretReference> {
    Some(SecretReference {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
    })
}

type Mutation = fn(&mut BareMetalHost);

/// (case, mutation, expected field path, expected offending value in the message)
const BAD_INPUT: &[(&str, Mutation, &str, &str)] = &[
    (
        "name with a colon",
        |h| h.metadata.name = Some("worker:0".into()),
        "metadata.name",
        "worker:0",
    ),
    (
        "name that is a UUID",
        |h| h.metadata.name = Some("6f1b4c3e-2a7d-4e0b-9c1f-3d2e5a6b7c8d".into()),
        "metadata.name",
        "6f1b4c3e-2a7d-4e0b-9c1f-3d2e5a6b7c8d",
    ),
    (
        "boot MAC with five octets",
        |h| h.spec.boot_mac_address = Some("00:5c:52:31:3a".into()),
        "spec.bootMACAddress",
        "00:5c:52:31:3a",
    ),
    (
        "boot MAC with a non-hex digit",
        |h| h.spec.boot_mac_address = Some("00:5c:52:31:3a:zz".into()),
        "spec.bootMACAddress",
        "00:5c:52:31:3a:zz",
    ),
    (
        "qcow2 image without checksum",
        |h| h.spec.image.as_mut().unwrap().checksum = None,
        "spec.image.checksum",
        "http://images.example/os.qcow2",
    ),
    (
        "image without url",
        |h| h.spec.image.as_mut().unwrap().url = String::new(),
        "spec.image.url",
        "\"\"",
    ),
    (
        "checksum type outside the enum",
        |h| h.spec.image.as_mut().unwrap().checksum_type = Some(ChecksumType::from_wire("sha1")),
        "spec.image.checksumType",
        "sha1",
    ),
    (
        "image format outside the enum",
        |h| h.spec.image.as_mut().unwrap().format = Some(ImageFormat::from_wire("iso")),
        "spec.image.format",
        "iso",
    ),
    (
        "online false with power-off disabled",
        |h| {
            h.spec.online = false;
            h.spec.disable_power_off = true;
        },
        "spec.disablePowerOff",
        "true",
    ),
    (
        "BMC address without credentials",
        |h| h.spec.bmc.credentials_name = String::new(),
        "spec.bmc.credentialsName",
        "\"\"",
    ),
    (
        "credentials without BMC address",
        |h| h.spec.bmc.address = String::new(),
        "spec.bmc.address",
        "\"\"",
    ),
    (
        "root device hint that is not a /dev path",
        |h| {
            h.spec.root_device_hints = Some(RootDeviceHints {
                device_name: Some("sda".into()),
                ..Default::default()
            })
        },
        "spec.rootDeviceHints.deviceName",
        "sda",
    ),
    (
        "hardware and software RAID together",
        |h| {
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: Some(vec![HardwareRaidVolume::default()]),
                software_raid_volumes: Some(vec![sw(SoftwareRaidLevel::Raid1, false)]),
            })
        },
        "spec.raid",
        "1 hardware and 1 software volumes",
    ),
    (
        "three software RAID volumes",
        |h| {
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: None,
                software_raid_volumes: Some(vec![
                    sw(SoftwareRaidLevel::Raid1, false),
                    sw(SoftwareRaidLevel::Raid0, false),
                    sw(SoftwareRaidLevel::Raid0, false),
                ]),
            })
        },
        "spec.raid.softwareRAIDVolumes",
        "3 volumes",
    ),
    (
        "software RAID level 5",
        |h| {
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: None,
                software_raid_volumes: Some(vec![
                    sw(SoftwareRaidLevel::Raid1, false),
                    sw(SoftwareRaidLevel::from_wire("5"), false),
                ]),
            })
        },
        "spec.raid.softwareRAIDVolumes[1].level",
        "\"5\"",
    ),
    (
        "first software RAID volume is RAID-0",
        |h| {
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: None,
                software_raid_volumes: Some(vec![sw(SoftwareRaidLevel::Raid0, false)]),
            })
        },
        "spec.raid.softwareRAIDVolumes[0].level",
        "\"0\"",
    ),
    (
        "root volume together with root device hints",
        |h| {
            h.spec.root_device_hints = Some(RootDeviceHints {
                device_name: Some("/dev/sda".into()),
                ..Default::default()
            });
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: None,
                software_raid_volumes: Some(vec![sw(SoftwareRaidLevel::Raid1, true)]),
            });
        },
        "spec.raid.softwareRAIDVolumes[0].rootVolume",
        "true",
    ),
    (
        "root volume set twice",
        |h| {
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: None,
                software_raid_volumes: Some(vec![
                    sw(SoftwareRaidLevel::Raid1, true),
                    sw(SoftwareRaidLevel::Raid1, true),
                ]),
            })
        },
        "spec.raid.softwareRAIDVolumes[1].rootVolume",
        "true",
    ),
    (
        "hardware RAID level outside the enum",
        |h| {
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: Some(vec![HardwareRaidVolume {
                    level: HardwareRaidLevel::from_wire("7"),
                    ..Default::default()
                }]),
                software_raid_volumes: None,
            })
        },
        "spec.raid.hardwareRAIDVolumes[0].level",
        "\"7\"",
    ),
    (
        "userData Secret in another namespace",
        |h| h.spec.user_data = secret("ud", "kube-system"),
        "spec.userData.namespace",
        "kube-system",
    ),
    (
        "networkData Secret in another namespace",
        |h| h.spec.network_data = secret("nd", "other"),
        "spec.networkData.namespace",
        "other",
    ),
    (
        "metaData Secret in another namespace",
        |h| h.spec.meta_data = secret("md", "default"),
        "spec.metaData.namespace",
        "default",
    ),
    (
        "reboot annotation with an unknown mode",
        |h| annotate(h, "reboot.metal3.io", r#"{"mode":"gentle"}"#),
        "metadata.annotations[reboot.metal3.io]",
        "gentle",
    ),
    (
        "phased reboot annotation with broken JSON",
        |h| annotate(h, "reboot.metal3.io/remediation", "{mode:hard"),
        "metadata.annotations[reboot.metal3.io/remediation]",
        "{mode:hard",
    ),
    (
        "inspect annotation with an unknown value",
        |h| annotate(h, annotations::INSPECT, "now"),
        "metadata.annotations[inspect.metal3.io]",
        "now",
    ),
    (
        "status annotation that is not JSON",
        |h| annotate(h, annotations::STATUS, "provisioned"),
        "metadata.annotations[baremetalhost.metal3.io/status]",
        "provisioned",
    ),
    (
        "status annotation with an unknown operational status",
        |h| annotate(h, annotations::STATUS, r#"{"operationalStatus":"great"}"#),
        "metadata.annotations[baremetalhost.metal3.io/status]",
        "great",
    ),
    (
        "hardwaredetails annotation that is not JSON",
        |h| {
            h.spec.inspection_mode = Some(InspectionMode::Disabled);
            annotate(h, annotations::HARDWARE_DETAILS, "{cpu");
        },
        "metadata.annotations[inspect.metal3.io/hardwaredetails]",
        "{cpu",
    ),
    (
        "hardwaredetails annotation while inspection is enabled",
        |h| annotate(h, annotations::HARDWARE_DETAILS, r#"{"ramMebibytes":4096}"#),
        "metadata.annotations[inspect.metal3.io/hardwaredetails]",
        "ramMebibytes",
    ),
    (
        "detached annotation with an unknown delete action",
        |h| annotate(h, annotations::DETACHED, r#"{"deleteAction":"later"}"#),
        "metadata.annotations[baremetalhost.metal3.io/detached]",
        "later",
    ),
    (
        "boot mode outside the enum",
        |h| h.spec.boot_mode = Some(BootMode::from_wire("BIOS")),
        "spec.bootMode",
        "BIOS",
    ),
    (
        "inspection mode outside the enum",
        |h| h.spec.inspection_mode = Some(InspectionMode::from_wire("deep")),
        "spec.inspectionMode",
        "deep",
    ),
    (
        "deprecated firmware settings",
        |h| h.spec.firmware = Some(FirmwareConfig::default()),
        "spec.firmware",
        "set",
    ),
    (
        "custom deploy without a method",
        |h| {
            h.spec.custom_deploy = Some(CustomDeploy {
                method: String::new(),
            })
        },
        "spec.customDeploy.method",
        "\"\"",
    ),
    (
        "BMC address with an unknown scheme",
        |h| h.spec.bmc.address = "foo://192.0.2.10".into(),
        "spec.bmc.address",
        "foo://192.0.2.10",
    ),
    (
        "BMC address without a host",
        |h| h.spec.bmc.address = "redfish://".into(),
        "spec.bmc.address",
        "redfish://",
    ),
    (
        "libvirt BMC without a boot MAC",
        |h| {
            h.spec.bmc.address = "libvirt://192.0.2.1/".into();
            h.spec.boot_mac_address = None;
        },
        "spec.bootMACAddress",
        "libvirt",
    ),
    (
        "hardware RAID on an IPMI BMC",
        |h| {
            h.spec.bmc.address = "ipmi://192.0.2.20:623".into();
            h.spec.raid = Some(RaidConfig {
                hardware_raid_volumes: Some(vec![HardwareRaidVolume::default()]),
                software_raid_volumes: None,
            });
        },
        "spec.raid.hardwareRAIDVolumes",
        "ipmi",
    ),
    (
        "secure boot on an IPMI BMC",
        |h| {
            h.spec.bmc.address = "ipmi://192.0.2.20".into();
            h.spec.boot_mode = Some(BootMode::UefiSecureBoot);
        },
        "spec.bootMode",
        "UEFISecureBoot",
    ),
];

#[test]
fn the_well_formed_host_passes_validation() {
    assert_eq!(validate_host(&good_host()), vec![]);
}

#[test]
fn every_bad_input_is_reported_with_its_field_path_and_value() {
    assert!(BAD_INPUT.len() >= 15);
    let mut failures = Vec::new();
    for (case, mutate, path, value) in BAD_INPUT {
        let mut host = good_host();
        mutate(&mut host);
        let errors = validate_host(&host);
        let hit = errors.iter().find(|e| e.path == *path);
        match hit {
            Some(e)
                if e.to_string().starts_with(&format!("{path}: "))
                    && e.to_string().contains(value) => {}
            _ => failures.push(format!(
                "{case}: want {path} with {value:?}, got {errors:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn exempt_images_need_no_checksum() {
    let mut live = good_host();
    let image = live.spec.image.as_mut().unwrap();
    image.checksum = None;
    image.format = Some(ImageFormat::LiveIso);
    assert_eq!(validate_host(&live), vec![]);
    let mut oci = good_host();
    let image = oci.spec.image.as_mut().unwrap();
    image.checksum = None;
    image.format = None;
    image.url = "oci://registry.example/os:1".into();
    assert_eq!(validate_host(&oci), vec![]);
}

#[test]
fn secret_references_of_a_host_without_namespace_are_not_judged() {
    // YAML not yet applied (`kubectl apply -n ...` supplies the namespace later).
    let mut host = good_host();
    host.metadata.namespace = None;
    host.spec.user_data = secret("ud", "openshift-machine-api");
    assert_eq!(validate_host(&host), vec![]);
}

#[test]
fn an_unmanaged_host_without_bmc_details_is_valid() {
    let mut host = good_host();
    host.spec.bmc = BmcDetails::default();
    assert_eq!(validate_host(&host), vec![]);
}

#[test]
fn same_namespace_secret_references_and_good_annotations_are_valid() {
    let mut host = good_host();
    host.spec.user_data = secret("ud", "metal3");
    host.spec.network_data = Some(SecretReference {
        name: Some("nd".into()),
        namespace: None,
    });
    annotate(&mut host, annotations::REBOOT, "");
    annotate(&mut host, "reboot.metal3.io/phase", r#"{"mode":"hard"}"#);
    annotate(&mut host, annotations::INSPECT, "");
    annotate(
        &mut host,
        annotations::DETACHED,
        r#"{"deleteAction":"delay","force":true}"#,
    );
    annotate(&mut host, annotations::PAUSED, "");
    assert_eq!(validate_host(&host), vec![]);
}

#[test]
fn hardwaredetails_annotation_is_accepted_when_inspection_is_disabled() {
    let mut host = good_host();
    host.spec.inspection_mode = Some(InspectionMode::Disabled);
    annotate(
        &mut host,
        annotations::HARDWARE_DETAILS,
        r#"{"ramMebibytes":4096,"cpu":{"count":8}}"#,
    );
    assert_eq!(validate_host(&host), vec![]);
}

#[test]
fn errors_carry_a_kind() {
    let mut host = good_host();
    host.spec.boot_mode = Some(BootMode::from_wire("BIOS"));
    let errors = validate_host(&host);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, FieldErrorKind::NotSupported);
    assert!(
        errors[0].detail.contains("\"UEFISecureBoot\""),
        "{}",
        errors[0].detail
    );
}

fn in_state(state: ProvisioningState) -> BareMetalHost {
    let mut host = good_host();
    host.status = Some(BareMetalHostStatus {
        provisioning: metal_operator::api::ProvisionStatus {
            state,
            ..Default::default()
        },
        ..Default::default()
    });
    host
}

#[test]
fn boot_mac_cannot_change_once_set() {
    let old = in_state(ProvisioningState::Available);
    let mut new = old.clone();
    new.spec.boot_mac_address = Some("00:5c:52:31:3a:9d".into());
    let errors = validate_host_update(&old, &new);
    assert!(
        errors
            .iter()
            .any(|e| e.path == "spec.bootMACAddress" && e.value == "00:5c:52:31:3a:9d"),
        "{errors:?}"
    );
}

#[test]
fn bmc_address_changes_only_while_registering_or_detached() {
    let provisioned = in_state(ProvisioningState::Provisioned);
    let mut moved = provisioned.clone();
    moved.spec.bmc.address = "redfish://192.0.2.11/redfish/v1/Systems/1".into();
    let errors = validate_host_update(&provisioned, &moved);
    assert!(
        errors.iter().any(|e| e.path == "spec.bmc.address"),
        "{errors:?}"
    );

    let registering = in_state(ProvisioningState::Registering);
    let mut fixed = registering.clone();
    fixed.spec.bmc.address = "redfish://192.0.2.11/redfish/v1/Systems/1".into();
    assert_eq!(validate_host_update(&registering, &fixed), vec![]);

    let mut detached = in_state(ProvisioningState::Provisioned);
    detached.status.as_mut().unwrap().operational_status = OperationalStatus::Detached;
    let mut redone = detached.clone();
    redone.spec.bmc.address = "redfish://192.0.2.11/redfish/v1/Systems/1".into();
    assert_eq!(validate_host_update(&detached, &redone), vec![]);
}

#[test]
fn externally_provisioned_can_be_switched_on_only_from_available() {
    for (state, allowed) in [
        (ProvisioningState::Available, true),
        (ProvisioningState::Inspecting, false),
        (ProvisioningState::Provisioned, false),
    ] {
        let old = in_state(state);
        let mut new = old.clone();
        new.spec.externally_provisioned = true;
        let errors = validate_host_update(&old, &new);
        let refused = errors
            .iter()
            .any(|e| e.path == "spec.externallyProvisioned");
        assert_eq!(refused, !allowed, "{state:?}: {errors:?}");
    }
}

#[test]
fn unknown_enum_values_parse_and_are_kept_verbatim_for_reporting() {
    let yaml = r#"
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata: {name: odd, namespace: metal3}
spec:
  bootMode: BIOS
  image: {url: "http://x/y.img", checksum: abc, checksumType: crc32}
"#;
    let host: BareMetalHost = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(host.spec.boot_mode, Some(BootMode::Unknown("BIOS".into())));
    let paths: Vec<_> = validate_host(&host).into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["spec.bootMode", "spec.image.checksumType"]);
}

#[test]
fn mac_checker_accepts_upper_and_lower_case() {
    assert!(is_mac_address("AA:BB:CC:DD:EE:FF"));
    assert!(is_mac_address("aa:bb:cc:dd:ee:01"));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Arbitrary user-controlled strings anywhere validation looks never cause a panic, and
        /// every reported error names a field path.
        #[test]
        fn validation_of_arbitrary_strings_never_panics(
            name in ".{0,40}",
            mac in ".{0,24}",
            address in ".{0,48}",
            device in ".{0,20}",
            key_suffix in "[a-z/]{0,10}",
            value in ".{0,60}",
        ) {
            let mut host = good_host();
            host.metadata.name = Some(name);
            host.spec.boot_mac_address = Some(mac);
            host.spec.bmc.address = address;
            host.spec.root_device_hints = Some(RootDeviceHints {
                device_name: Some(device),
                ..Default::default()
            });
            for key in [
                format!("reboot.metal3.io{key_suffix}"),
                annotations::INSPECT.to_string(),
                annotations::DETACHED.to_string(),
                annotations::STATUS.to_string(),
                annotations::HARDWARE_DETAILS.to_string(),
            ] {
                annotate(&mut host, &key, &value);
            }
            for e in validate_host(&host) {
                prop_assert!(e.path.starts_with("metadata.") || e.path.starts_with("spec."), "{e}");
            }
        }
    }
}
