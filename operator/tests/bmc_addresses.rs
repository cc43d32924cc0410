//! `spec.bmc.address` parsing: every upstream scheme, every accepted form, the Ironic driver,
//! interfaces and driver_info each implies, and upstream's error texts.

use metal_operator::bmc::{BmcAddress, BmcError, BmcHost, BmcKind, DeployImages, Transport};
use metal_operator::provisioner::{Credentials, InspectMode};
use proptest::prelude::*;
use serde_json::{Value, json};

fn creds() -> Credentials {
    Credentials {
        username: "admin".into(),
        password: "pw".into(),
    }
}

fn images() -> DeployImages {
    DeployImages {
        kernel_url: Some("http://i/k".into()),
        ramdisk_url: Some("http://i/r".into()),
        iso_url: Some("http://i/ipa.iso".into()),
    }
}

/// (address, kind, transport, host, port, effective port, path)
type AddressRow = (
    &'static str,
    BmcKind,
    Option<Transport>,
    &'static str,
    Option<u16>,
    u16,
    &'static str,
);

#[test]
fn every_scheme_and_form_parses_to_its_kind_host_and_port() {
    #[rustfmt::skip]
    let table: &[AddressRow] = &[
        ("192.168.122.1", BmcKind::Ipmi, None, "192.168.122.1", None, 623, ""),
        ("my.bmc.com", BmcKind::Ipmi, None, "my.bmc.com", None, 623, ""),
        ("192.168.122.1:6233", BmcKind::Ipmi, None, "192.168.122.1", Some(6233), 6233, ""),
        ("my.bmc.com:6233", BmcKind::Ipmi, None, "my.bmc.com", Some(6233), 6233, ""),
        ("[fe80::fc33:62ff:fe83:8a76]:6233", BmcKind::Ipmi, None, "fe80::fc33:62ff:fe83:8a76", Some(6233), 6233, ""),
        ("ipmi://192.168.122.1", BmcKind::Ipmi, None, "192.168.122.1", None, 623, ""),
        ("ipmi://192.168.122.1:6233", BmcKind::Ipmi, None, "192.168.122.1", Some(6233), 6233, ""),
        ("ipmi://[fe80::1]", BmcKind::Ipmi, None, "fe80::1", None, 623, ""),
        ("ipmi://[fe80::1]:6233", BmcKind::Ipmi, None, "fe80::1", Some(6233), 6233, ""),
        ("IPMI://192.168.122.1", BmcKind::Ipmi, None, "192.168.122.1", None, 623, ""),
        ("ipmi:192.168.122.1", BmcKind::Ipmi, None, "192.168.122.1", None, 623, ""),
        ("libvirt://192.168.122.1:6233/", BmcKind::Libvirt, None, "192.168.122.1", Some(6233), 6233, "/"),
        ("redfish://bmc.example/redfish/v1/Systems/1", BmcKind::Redfish, None, "bmc.example", None, 443, "/redfish/v1/Systems/1"),
        ("redfish:bmc.example", BmcKind::Redfish, None, "bmc.example", None, 443, ""),
        ("redfish+http://10.0.0.1:8000/redfish/v1/Systems/1", BmcKind::Redfish, Some(Transport::Http), "10.0.0.1", Some(8000), 8000, "/redfish/v1/Systems/1"),
        ("redfish+http://10.0.0.1/x", BmcKind::Redfish, Some(Transport::Http), "10.0.0.1", None, 80, "/x"),
        ("redfish+https://10.0.0.1/x", BmcKind::Redfish, Some(Transport::Https), "10.0.0.1", None, 443, "/x"),
        ("redfish://[fe80::1]:8443/redfish/v1/Systems/a", BmcKind::Redfish, None, "fe80::1", Some(8443), 8443, "/redfish/v1/Systems/a"),
        ("redfish-virtualmedia://10.0.0.1/redfish/v1/Systems/1", BmcKind::RedfishVirtualMedia, None, "10.0.0.1", None, 443, "/redfish/v1/Systems/1"),
        ("redfish-virtualmedia+http://10.0.0.1/s", BmcKind::RedfishVirtualMedia, Some(Transport::Http), "10.0.0.1", None, 80, "/s"),
        ("redfish-virtualmedia+https://10.0.0.1/s", BmcKind::RedfishVirtualMedia, Some(Transport::Https), "10.0.0.1", None, 443, "/s"),
        ("redfish-uefihttp://10.0.0.1/s", BmcKind::RedfishUefiHttp, None, "10.0.0.1", None, 443, "/s"),
        ("redfish-uefihttp+http://10.0.0.1/s", BmcKind::RedfishUefiHttp, Some(Transport::Http), "10.0.0.1", None, 80, "/s"),
        ("redfish-uefihttp+https://10.0.0.1/s", BmcKind::RedfishUefiHttp, Some(Transport::Https), "10.0.0.1", None, 443, "/s"),
        ("idrac-redfish://10.0.0.1/redfish/v1/Systems/System.Embedded.1", BmcKind::IdracRedfish, None, "10.0.0.1", None, 443, "/redfish/v1/Systems/System.Embedded.1"),
        ("idrac-redfish+http://10.0.0.1/s", BmcKind::IdracRedfish, Some(Transport::Http), "10.0.0.1", None, 80, "/s"),
        ("idrac-redfish+https://10.0.0.1/s", BmcKind::IdracRedfish, Some(Transport::Https), "10.0.0.1", None, 443, "/s"),
        ("idrac-virtualmedia://10.0.0.1/s", BmcKind::IdracVirtualMedia, None, "10.0.0.1", None, 443, "/s"),
        ("idrac-virtualmedia+http://10.0.0.1/s", BmcKind::IdracVirtualMedia, Some(Transport::Http), "10.0.0.1", None, 80, "/s"),
        ("idrac-virtualmedia+https://10.0.0.1/s", BmcKind::IdracVirtualMedia, Some(Transport::Https), "10.0.0.1", None, 443, "/s"),
        ("ilo5-redfish://10.0.0.1/redfish/v1/Systems/1", BmcKind::Ilo5Redfish, None, "10.0.0.1", None, 443, "/redfish/v1/Systems/1"),
        ("ilo5-redfish+http://10.0.0.1/s", BmcKind::Ilo5Redfish, Some(Transport::Http), "10.0.0.1", None, 80, "/s"),
        ("ilo5-redfish+https://10.0.0.1/s", BmcKind::Ilo5Redfish, Some(Transport::Https), "10.0.0.1", None, 443, "/s"),
        ("ilo5-virtualmedia://10.0.0.1/s", BmcKind::Ilo5VirtualMedia, None, "10.0.0.1", None, 443, "/s"),
        ("ilo5-virtualmedia+http://10.0.0.1/s", BmcKind::Ilo5VirtualMedia, Some(Transport::Http), "10.0.0.1", None, 80, "/s"),
        ("ilo5-virtualmedia+https://10.0.0.1/s", BmcKind::Ilo5VirtualMedia, Some(Transport::Https), "10.0.0.1", None, 443, "/s"),
    ];
    for (address, kind, transport, host, port, effective, path) in table {
        let parsed = BmcAddress::parse(address).unwrap_or_else(|e| panic!("{address}: {e}"));
        assert_eq!(parsed.kind, *kind, "{address}");
        assert_eq!(parsed.transport, *transport, "{address}");
        assert_eq!(parsed.host.to_string(), *host, "{address}");
        assert_eq!(parsed.port, *port, "{address}");
        assert_eq!(parsed.effective_port(), *effective, "{address}");
        assert_eq!(parsed.path, *path, "{address}");
    }
}

#[test]
fn every_kind_maps_to_its_ironic_driver_and_boot_interface() {
    #[rustfmt::skip]
    let table = [
        ("ipmi://h", "ipmi", "ipxe", false, false, false, false),
        ("libvirt://h", "ipmi", "ipxe", true, false, false, false),
        ("redfish://h/s", "redfish", "ipxe", false, true, true, false),
        ("ilo5-redfish://h/s", "redfish", "ipxe", false, true, true, false),
        ("redfish-virtualmedia://h/s", "redfish", "redfish-virtual-media", false, true, true, true),
        ("ilo5-virtualmedia://h/s", "redfish", "redfish-virtual-media", false, true, true, true),
        ("redfish-uefihttp://h/s", "redfish", "redfish-https", false, true, true, true),
        ("idrac-redfish://h/s", "idrac", "ipxe", false, true, true, false),
        ("idrac-virtualmedia://h/s", "idrac", "idrac-redfish-virtual-media", false, true, true, true),
    ];
    for (address, driver, boot, needs_mac, raid, secure_boot, iso) in table {
        let a = BmcAddress::parse(address).unwrap();
        assert_eq!(a.driver(), driver, "{address}");
        assert_eq!(a.interfaces().boot, Some(boot), "{address}");
        assert_eq!(a.needs_mac(), needs_mac, "{address}");
        assert_eq!(a.supports_raid(), raid, "{address}");
        assert_eq!(a.supports_secure_boot(), secure_boot, "{address}");
        assert_eq!(a.supports_fast_inspection(), secure_boot, "{address}");
        assert_eq!(a.supports_iso(), iso, "{address}");
        assert_eq!(a.needs_provisioning_network(), !iso, "{address}");
    }
}

#[test]
fn only_virtual_media_hosts_are_exempt_from_the_provisioning_limit() {
    let exempt: Vec<&str> = BmcKind::ALL
        .iter()
        .filter(|k| {
            BmcAddress::parse(&format!("{}://h/s", k.scheme()))
                .unwrap()
                .is_virtual_media()
        })
        .map(|k| k.scheme())
        .collect();
    assert_eq!(
        exempt,
        [
            "redfish-virtualmedia",
            "idrac-virtualmedia",
            "ilo5-virtualmedia"
        ]
    );
}

#[test]
fn idrac_uses_idrac_interfaces_with_redfish_firmware_and_inspection() {
    let a = BmcAddress::parse("idrac-virtualmedia://h/s").unwrap();
    assert_eq!(
        a.interfaces().fields(),
        vec![
            ("bios_interface", "idrac-redfish"),
            ("boot_interface", "idrac-redfish-virtual-media"),
            ("firmware_interface", "redfish"),
            ("inspect_interface", "redfish"),
            ("management_interface", "idrac-redfish"),
            ("power_interface", "idrac-redfish"),
            ("raid_interface", "idrac-redfish"),
            ("vendor_interface", "idrac-redfish"),
        ]
    );
    let ipmi = BmcAddress::parse("ipmi://h").unwrap();
    assert_eq!(
        ipmi.interfaces().fields(),
        vec![("boot_interface", "ipxe"), ("raid_interface", "no-raid")]
    );
}

#[test]
fn inspection_mode_chooses_the_inspect_interface() {
    let redfish = BmcAddress::parse("redfish://h/s").unwrap();
    assert_eq!(redfish.inspect_interface(InspectMode::Agent), Ok("agent"));
    assert_eq!(redfish.inspect_interface(InspectMode::Fast), Ok("redfish"));
    assert_eq!(
        redfish.inspect_interface(InspectMode::Disabled),
        Ok("no-inspect")
    );
    let ipmi = BmcAddress::parse("ipmi://h").unwrap();
    assert_eq!(
        ipmi.inspect_interface(InspectMode::Fast)
            .unwrap_err()
            .to_string(),
        "BMC driver ipmi does not support fast (out-of-band) inspection"
    );
}

#[test]
fn ipmi_driver_info_carries_address_port_credentials_and_privilege() {
    let a = BmcAddress::parse("ipmi://[fe80::1]:6230?privilegelevel=OPERATOR").unwrap();
    assert_eq!(
        Value::Object(a.driver_info(&creds(), false, &images())),
        json!({
            "ipmi_address": "fe80::1", "ipmi_port": 6230,
            "ipmi_username": "admin", "ipmi_password": "pw",
            "ipmi_priv_level": "OPERATOR",
            "deploy_kernel": "http://i/k", "deploy_ramdisk": "http://i/r",
        })
    );
    let plain = BmcAddress::parse("10.1.1.1").unwrap();
    let info = plain.driver_info(&creds(), true, &images());
    assert_eq!(info["ipmi_port"], 623);
    assert_eq!(info["ipmi_priv_level"], "ADMINISTRATOR");
    assert_eq!(info["ipmi_verify_ca"], false);
}

#[test]
fn redfish_driver_info_carries_the_address_system_id_and_verification() {
    let table = [
        (
            "redfish://10.0.0.1/redfish/v1/Systems/1",
            false,
            json!({ "redfish_address": "https://10.0.0.1", "redfish_system_id": "/redfish/v1/Systems/1",
                    "redfish_username": "admin", "redfish_password": "pw",
                    "deploy_kernel": "http://i/k", "deploy_ramdisk": "http://i/r" }),
        ),
        (
            "redfish+http://[fe80::1]:8000/redfish/v1/",
            true,
            json!({ "redfish_address": "http://[fe80::1]:8000",
                    "redfish_username": "admin", "redfish_password": "pw", "redfish_verify_ca": false,
                    "deploy_kernel": "http://i/k", "deploy_ramdisk": "http://i/r" }),
        ),
        (
            "redfish-virtualmedia://10.0.0.1:8443/redfish/v1/Systems/abc",
            true,
            json!({ "redfish_address": "https://10.0.0.1:8443", "redfish_system_id": "/redfish/v1/Systems/abc",
                    "redfish_username": "admin", "redfish_password": "pw", "redfish_verify_ca": false,
                    "redfish_deploy_iso": "http://i/ipa.iso" }),
        ),
        (
            "idrac-redfish://bmc.lab/redfish/v1/Systems/System.Embedded.1",
            false,
            json!({ "redfish_address": "https://bmc.lab",
                    "redfish_system_id": "/redfish/v1/Systems/System.Embedded.1",
                    "redfish_username": "admin", "redfish_password": "pw",
                    "deploy_kernel": "http://i/k", "deploy_ramdisk": "http://i/r" }),
        ),
    ];
    for (address, disable_verify, want) in table {
        let a = BmcAddress::parse(address).unwrap();
        assert_eq!(
            Value::Object(a.driver_info(&creds(), disable_verify, &images())),
            want,
            "{address}"
        );
    }
}

#[test]
fn redfish_system_id_is_the_path_unless_it_is_the_service_root() {
    let table = [
        ("redfish://h", None),
        ("redfish://h/", None),
        ("redfish://h/redfish/v1", None),
        ("redfish://h/redfish/v1/", None),
        (
            "redfish://h/redfish/v1/Systems/1",
            Some("/redfish/v1/Systems/1"),
        ),
        ("redfish-uefihttp://h/redfish/v1", Some("/redfish/v1")),
        ("ipmi://h/anything", None),
    ];
    for (address, want) in table {
        let a = BmcAddress::parse(address).unwrap();
        assert_eq!(a.redfish_system_id().as_deref(), want, "{address}");
    }
}

#[test]
fn bad_addresses_fail_with_upstream_texts() {
    #[rustfmt::skip]
    let table = [
        ("", "missing BMC address"),
        ("foo://10.0.0.1", "Unknown BMC type 'foo' for address foo://10.0.0.1"),
        ("ipmi+https://10.0.0.1", "Unknown BMC type 'ipmi+https' for address ipmi+https://10.0.0.1"),
        ("redfish+ftp://10.0.0.1", "Unknown BMC type 'redfish+ftp' for address redfish+ftp://10.0.0.1"),
        ("ilo4://10.0.0.1", "Unknown BMC type 'ilo4' for address ilo4://10.0.0.1"),
        ("irmc://10.0.0.1", "Unknown BMC type 'irmc' for address irmc://10.0.0.1"),
        ("my-.examplehost.com", "BMC address hostname/IP : [my-.examplehost.com] is invalid"),
        ("[fe80::fc33:62ff:fe33:8xff]:6223", "BMC address hostname/IP : [fe80::fc33:62ff:fe33:8xff] is invalid"),
        ("redfish://bad_host/s", "BMC address hostname/IP : [bad_host] is invalid"),
        ("redfish://", "failed to parse BMC address information: missing host in 'redfish://'"),
        ("redfish:///redfish/v1/Systems/1", "failed to parse BMC address information: missing host in 'redfish:///redfish/v1/Systems/1'"),
        ("ipmi://h:99999", "failed to parse BMC address information: port 99999 out of range in 'ipmi://h:99999'"),
        ("ipmi://h:12ab", "failed to parse BMC address information: invalid port ':12ab' in 'ipmi://h:12ab'"),
        ("[fe80::1]", "failed to parse BMC address information: missing port in address in '[fe80::1]'"),
        ("ipmi://fe80::1", "failed to parse BMC address information: IPv6 address must be in brackets in 'ipmi://fe80::1'"),
        ("1.2.3.4:x:5", "failed to parse BMC address information: first path segment in URL cannot contain colon in '1.2.3.4:x:5'"),
    ];
    for (address, want) in table {
        let err = BmcAddress::parse(address).unwrap_err();
        assert_eq!(err.to_string(), want, "{address}");
    }
    assert_eq!(BmcAddress::parse(""), Err(BmcError::MissingAddress));
}

#[test]
fn canonical_form_spells_out_scheme_host_and_port() {
    let a = BmcAddress::parse("[fe80::1]:6233").unwrap();
    assert_eq!(a.canonical(), "ipmi://[fe80::1]:6233");
    assert_eq!(a.host, BmcHost::Ipv6("fe80::1".parse().unwrap(), None));
    let r = BmcAddress::parse("redfish+http://10.0.0.1/redfish/v1/Systems/1").unwrap();
    assert_eq!(
        r.canonical(),
        "redfish+http://10.0.0.1:80/redfish/v1/Systems/1"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(s in any::<String>()) {
        let _ = BmcAddress::parse(&s);
    }

    #[test]
    fn parsing_url_shaped_text_never_panics(
        scheme in "[a-z+-]{0,24}",
        sep in prop_oneof![Just("://"), Just(":"), Just("")],
        host in "[a-zA-Z0-9.:\\[\\]%_-]{0,40}",
        rest in "[/?=&a-zA-Z0-9.:@#-]{0,30}",
    ) {
        let address = format!("{scheme}{sep}{host}{rest}");
        if let Ok(a) = BmcAddress::parse(&address) {
            // Whatever parses yields consistent derived values.
            let _ = a.driver_info(&creds(), false, &images());
            let _ = a.canonical();
            prop_assert!(a.effective_port() > 0 || a.port == Some(0));
        }
    }

    #[test]
    fn every_kind_round_trips_through_its_canonical_form(
        kind in prop::sample::select(BmcKind::ALL.to_vec()),
        port in 1u16..,
        last in 0u8..=255,
    ) {
        let address = format!("{}://10.1.2.{last}:{port}/redfish/v1/Systems/1", kind.scheme());
        let a = BmcAddress::parse(&address).unwrap();
        let again = BmcAddress::parse(&a.canonical()).unwrap();
        prop_assert_eq!(a, again);
    }
}
