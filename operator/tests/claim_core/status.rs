//! The claim's status mirroring its host through provisioning, conditions and Events for bad
//! input, and release back to the pool of free hosts.

use super::support::*;

fn observe<'a>(h: &'a BareMetalHost) -> ClaimObservation<'a> {
    ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: Binding::Bound(h),
        blocked: &[],
        releasing: false,
    }
}

fn cond<'a>(s: &'a metal_operator::api::HostClaimStatus, t: &str) -> (&'a str, &'a str) {
    let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
    (c.status.as_str(), c.reason.as_str())
}

#[test]
fn the_claim_status_mirrors_the_host_through_provisioning() {
    let mut c = claim("c", json!({"image": image(), "poweredOn": true}));
    let h = bound_to(&host("w0", "provisioning", json!({})), &c);
    let s = claim::status(&c, &observe(&h), now());
    assert_eq!(s.bare_metal_host.as_ref().unwrap().name, "w0");
    assert_eq!(s.hardware_data.as_ref().unwrap().name, "w0");
    assert_eq!(cond(&s, "Bound"), ("True", "HostBound"));
    assert_eq!(cond(&s, "Ready"), ("False", "Provisioning"));
    let events = claim::events(&Default::default(), &s);
    assert!(
        events.iter().any(|e| e.reason == "HostBound" && !e.warning),
        "{events:?}"
    );

    c.status = Some(s.clone());
    let same = claim::status(&c, &observe(&h), now() + chrono::Duration::seconds(30));
    assert_eq!(
        same, s,
        "nothing changed: the status (and lastUpdated) stay as they are"
    );

    let done = edit(&h, |v| {
        v["status"]["provisioning"]["state"] = json!("provisioned");
        v["status"]["poweredOn"] = json!(true);
    });
    let later = now() + chrono::Duration::seconds(60);
    let s2 = claim::status(&c, &observe(&done), later);
    assert_eq!(cond(&s2, "Ready"), ("True", "HostReady"));
    assert_eq!(s2.powered_on, Some(true));
    let bound_cond = s2.conditions.iter().find(|x| x.type_ == "Bound").unwrap();
    let first_bound = s.conditions.iter().find(|x| x.type_ == "Bound").unwrap();
    assert_eq!(
        bound_cond.last_transition_time,
        first_bound.last_transition_time
    );
    assert!(
        claim::events(&s, &s2)
            .iter()
            .any(|e| e.reason == "HostReady")
    );

    let broken = edit(&done, |v| {
        v["status"]["errorMessage"] = json!("power on failed");
        v["status"]["errorType"] = json!("power management error");
    });
    let s3 = claim::status(&c, &observe(&broken), later);
    assert_eq!(cond(&s3, "Ready"), ("False", "HostError"));
    assert!(
        claim::events(&s2, &s3)
            .iter()
            .any(|e| e.reason == "HostError" && e.warning)
    );
}

#[test]
fn bad_input_gets_a_condition_and_a_warning_event() {
    let c = claim("c", json!({"image": {"url": "http://127.0.0.1/os.qcow2"}}));
    let problems = validate(&c);
    let obs = ClaimObservation {
        problems: &problems,
        missing_secrets: &[],
        host: Binding::NotTried,
        blocked: &[],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Valid"), ("False", "ImageChecksumMissing"));
    assert_eq!(cond(&s, "Bound"), ("False", "InvalidSpec"));
    let events = claim::events(&Default::default(), &s);
    assert!(
        events
            .iter()
            .any(|e| e.warning && e.reason == "ImageChecksumMissing"),
        "{events:?}"
    );

    let missing = [MissingSecret {
        field: "userData",
        name: "worker-ud".into(),
    }];
    let obs = ClaimObservation {
        problems: &[],
        missing_secrets: &missing,
        host: Binding::NotTried,
        blocked: &[],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Valid"), ("False", "UserDataSecretMissing"));
    assert!(s.conditions[0].message.contains("worker-ud"));

    let none = claim::NoHost::default();
    let obs = ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: Binding::NoHost(&none),
        blocked: &[],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Bound"), ("False", "NoMatchingHost"));
    assert!(
        claim::events(&Default::default(), &s)
            .iter()
            .any(|e| e.warning && e.reason == "NoMatchingHost")
    );

    let h = bound_to(&host("w0", "provisioning", json!({})), &c);
    let obs = ClaimObservation {
        problems: &[],
        missing_secrets: &[],
        host: Binding::Bound(&h),
        blocked: &["image"],
        releasing: false,
    };
    let s = claim::status(&c, &obs, now());
    assert_eq!(cond(&s, "Synced"), ("False", "ChangedWhileProvisioning"));
    assert!(
        s.conditions
            .iter()
            .any(|x| x.message.contains("image changed"))
    );
}

#[test]
fn release_clears_the_deployment_waits_for_deprovisioning_then_frees_the_host() {
    let c = claim(
        "c",
        json!({"image": image(), "userData": {"name": "ud"}, "poweredOn": true}),
    );
    let me = ClaimRef::of(&c);
    let h = host("w0", "provisioned", json!({}));
    let provisioned = apply_spec(&h, &bind_patch(&me, &c, &h));

    let ReleaseStep::ClearDeployment(patch) = release_step(&me, Some(&provisioned)) else {
        panic!("first the deployment goes");
    };
    assert_eq!(patch["metadata"]["resourceVersion"], "7");
    for field in [
        "image",
        "customDeploy",
        "userData",
        "networkData",
        "metaData",
    ] {
        assert_eq!(patch["spec"][field], Value::Null, "{field}");
    }
    assert_eq!(patch["spec"]["online"], false);
    let cleared = apply_spec(&provisioned, &patch);
    assert!(
        cleared.spec.consumer_ref.is_some(),
        "the host stays claimed meanwhile"
    );

    for state in ["provisioned", "deprovisioning"] {
        let h = edit(&cleared, |v| {
            v["status"]["provisioning"]["state"] = json!(state)
        });
        assert!(
            matches!(release_step(&me, Some(&h)), ReleaseStep::Wait { .. }),
            "{state}"
        );
    }
    let back = edit(&cleared, |v| {
        v["status"]["provisioning"]["state"] = json!("available")
    });
    let ReleaseStep::ClearConsumer(patch) = release_step(&me, Some(&back)) else {
        panic!("an available host loses its consumerRef");
    };
    assert_eq!(patch["spec"], json!({"consumerRef": null}));
    let free = apply_spec(&back, &patch);
    assert_eq!(release_step(&me, Some(&free)), ReleaseStep::Done);
    assert_eq!(
        release_step(&me, None),
        ReleaseStep::Done,
        "a vanished host needs no release"
    );

    let other = claim("other", json!({}));
    let someone_elses = bound_to(&host("x", "provisioned", json!({})), &other);
    assert_eq!(
        release_step(&me, Some(&someone_elses)),
        ReleaseStep::Done,
        "the consumerRef wins"
    );
}

#[test]
fn a_recreated_claim_of_the_same_name_does_not_inherit_the_host() {
    let old = claim("c", json!({}));
    let h = bound_to(&host("w0", "deprovisioning", json!({})), &old);
    let mut new = old.clone();
    new.metadata.uid = Some("uid-new".into());
    assert!(ClaimRef::of(&old).is_consumer_of(&h));
    assert!(!ClaimRef::of(&new).is_consumer_of(&h));
}
