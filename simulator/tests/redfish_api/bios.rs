//! The BIOS attribute registry: served under Registries and named by the Bios resource; every
//! kind of bad value refused with its Base message naming the attribute, nothing of it kept.

use super::support::*;

#[tokio::test]
async fn bios_names_its_attribute_registry_and_the_registry_describes_every_attribute() {
    let (app, id, _) = setup(1);
    let bios = get(&app, &format!("/redfish/v1/Systems/{id}/Bios")).await;
    let registry_id = bios.body["AttributeRegistry"].as_str().unwrap().to_string();
    let files = get(&app, "/redfish/v1/Registries").await;
    assert_eq!(files.status, StatusCode::OK);
    let file_uri = files.body["Members"][0]["@odata.id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = get(&app, &file_uri).await;
    let location = file.body["Location"][0]["Uri"]
        .as_str()
        .unwrap()
        .to_string();
    let registry = get(&app, &location).await;
    assert_eq!(registry.status, StatusCode::OK);
    assert_eq!(registry.body["Id"], registry_id.as_str());
    let attributes = registry.body["RegistryEntries"]["Attributes"]
        .as_array()
        .unwrap();
    let find = |name: &str| {
        attributes
            .iter()
            .find(|a| a["AttributeName"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(find("PxeRetryCount")["Type"], "Integer");
    assert_eq!(find("PxeRetryCount")["UpperBound"], 10);
    assert_eq!(find("ProcVirtualization")["Type"], "Enumeration");
    assert_eq!(find("AssetTag")["MaxLength"], 32);
    assert_eq!(find("SecureBootAllowed")["Type"], "Boolean");
    assert_eq!(find("SystemServiceTag")["ReadOnly"], true);
    // Every current attribute is in the registry.
    for name in bios.body["Attributes"].as_object().unwrap().keys() {
        find(name);
    }
    let missing = get(&app, &format!("{file_uri}/NoSuchRegistry.1.0.0")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_bad_bios_value_is_refused_with_its_base_message_and_nothing_is_kept() {
    let (app, id, _) = setup(1);
    let settings = format!("/redfish/v1/Systems/{id}/Bios/Settings");
    let before = get(&app, &settings).await.body;
    let cases = [
        (json!({"NoSuchKnob": 1}), "PropertyUnknown", "NoSuchKnob"),
        (
            json!({"SystemServiceTag": "X1"}),
            "PropertyNotWritable",
            "SystemServiceTag",
        ),
        (
            json!({"PxeRetryCount": "three"}),
            "PropertyValueTypeError",
            "PxeRetryCount",
        ),
        (
            json!({"PxeRetryCount": 11}),
            "PropertyValueOutOfRange",
            "PxeRetryCount",
        ),
        (
            json!({"PxeRetryCount": 2.5}),
            "PropertyValueTypeError",
            "PxeRetryCount",
        ),
        (
            json!({"ProcVirtualization": "On"}),
            "PropertyValueNotInList",
            "ProcVirtualization",
        ),
        (
            json!({"AssetTag": "x".repeat(33)}),
            "StringValueTooLong",
            "AssetTag",
        ),
    ];
    for (bad, message, attribute) in cases {
        // Each bad value rides with a good one: the good one must not be kept either.
        let mut attributes = bad.as_object().unwrap().clone();
        attributes.insert("PxeRetryCount".into(), json!(5));
        if bad.get("PxeRetryCount").is_some() {
            attributes.insert("PxeRetryCount".into(), bad["PxeRetryCount"].clone());
            attributes.insert("ProcVirtualization".into(), json!("Disabled"));
        }
        let r = patch(&app, &settings, json!({"Attributes": attributes})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            message_id(&r.body).ends_with(&format!(".{message}")),
            "{bad}: {}",
            r.body
        );
        let property = format!("Attributes/{attribute}");
        assert!(
            message_args(&r.body).contains(&property),
            "{bad}: {:?}",
            message_args(&r.body)
        );
        assert_eq!(
            get(&app, &settings).await.body,
            before,
            "{bad} kept something"
        );
    }
}

#[tokio::test]
async fn registries_follow_the_profiles_served_behind_one_address() {
    let (app, _, world) = setup(3);
    let files = get(&app, "/redfish/v1/Registries").await;
    let mut profiles: Vec<String> = world
        .hosts()
        .iter()
        .map(|h| h.profile.profile.clone())
        .collect();
    profiles.sort();
    profiles.dedup();
    assert_eq!(
        files.body["Members@odata.count"],
        json!(profiles.len()),
        "{}",
        files.body
    );
}
