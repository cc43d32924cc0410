use super::*;

fn node() -> Node {
    Node::new(
        1,
        Uuid::nil(),
        "fake-hardware",
        DateTime::<Utc>::MIN_UTC,
        Version::v1(115),
    )
}

#[test]
fn every_provision_state_round_trips_through_its_wire_string() {
    for s in ALL_STATES {
        assert_eq!(ProvisionState::parse(s.as_str()), Some(s));
    }
}

#[test]
fn new_nodes_enroll_from_one_point_eleven_and_are_available_before() {
    assert_eq!(node().provision_state, ProvisionState::Enroll);
    let old = Node::new(
        1,
        Uuid::nil(),
        "fake-hardware",
        DateTime::<Utc>::MIN_UTC,
        Version::v1(10),
    );
    assert_eq!(old.provision_state, ProvisionState::Available);
}

#[test]
fn old_microversions_hide_newer_fields() {
    let d = node().render("http://x", Version::v1(1), &Shape::Detail);
    assert!(d.get("name").is_none());
    assert!(d.get("boot_interface").is_none());
    assert!(d.get("provision_state").is_some());
    let d = node().render("http://x", Version::v1(115), &Shape::Detail);
    assert!(d.get("health").is_some());
}

#[test]
fn instance_secrets_and_the_config_drive_are_masked() {
    let mut n = node();
    n.instance_info
        .insert("configdrive".into(), json!({"user_data": "#cloud-config"}));
    n.instance_info.insert(
        "image_url".into(),
        json!("http://127.0.0.1/x?temp_url_sig=s"),
    );
    n.instance_info
        .insert("image_source".into(), json!("http://127.0.0.1/x"));
    n.instance_info.insert("admin_password".into(), json!("p"));
    let shown = n.render("", Version::v1(115), &Shape::Detail);
    assert_eq!(
        shown.get("instance_info"),
        Some(&json!({"configdrive": "******", "image_url": "******",
                     "image_source": "http://127.0.0.1/x", "admin_password": "******"}))
    );
}

#[test]
fn passwords_are_masked() {
    let mut n = node();
    n.driver_info
        .insert("redfish_password".into(), json!("secret"));
    let shown = n.render("", Version::v1(115), &Shape::Detail);
    assert_eq!(
        shown.get("driver_info"),
        Some(&json!({"redfish_password": "******"}))
    );
}

#[test]
fn macs_are_validated_and_lowercased() {
    assert_eq!(
        parse_mac("52:54:00:AB:cd:01").as_deref(),
        Some("52:54:00:ab:cd:01")
    );
    assert_eq!(parse_mac("zz"), None);
    assert_eq!(parse_mac("52:54:00:ab:cd"), None);
}
