//! Request rules of the Redfish specification (DSP0266): an unsupported `OData-Version` is a 412,
//! an unsupported `$` query a 501 `QueryNotSupported` (as the service root's
//! `ProtocolFeaturesSupported` promises), and a POST to a collection's `Members` is a POST to the
//! collection.

use super::support::*;

#[tokio::test]
async fn an_unsupported_odata_version_is_a_412_and_4_0_or_none_is_served() {
    let (app, id, _) = setup(1);
    let uri = format!("/redfish/v1/Systems/{id}");
    let auth = basic();
    let refused = send(
        &app,
        Method::GET,
        &uri,
        &[("authorization", &auth), ("OData-Version", "3.0")],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED);
    assert!(
        message_id(&refused.body).ends_with("HeaderInvalid"),
        "{}",
        refused.body
    );
    assert_eq!(refused.headers["odata-version"], "4.0");
    // Also before authentication: the service root, public, refuses it the same way.
    let root = send(
        &app,
        Method::GET,
        "/redfish/v1/",
        &[("OData-Version", "4.01")],
        None,
    )
    .await;
    assert_eq!(root.status, StatusCode::PRECONDITION_FAILED);
    for version in [&[("OData-Version", "4.0")][..], &[]] {
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend_from_slice(version);
        let ok = send(&app, Method::GET, &uri, &headers, None).await;
        assert_eq!(ok.status, StatusCode::OK, "{version:?}");
    }
}

#[tokio::test]
async fn a_dollar_query_the_root_does_not_advertise_is_a_501() {
    let (app, id, _) = setup(1);
    let root = get(&app, "/redfish/v1/").await;
    let features = &root.body["ProtocolFeaturesSupported"];
    // What the root promises: no expand, filter, select, only or excerpt.
    assert_eq!(features["ExpandQuery"]["ExpandAll"], false);
    for feature in [
        "FilterQuery",
        "SelectQuery",
        "OnlyMemberQuery",
        "ExcerptQuery",
    ] {
        assert_eq!(features[feature], false, "{feature}");
    }
    for query in [
        "$expand=.",
        "$filter=Id%20eq%20'1'",
        "$select=Id",
        "only",
        "$top=1",
        "$skip=1",
    ] {
        let uri = format!("/redfish/v1/Systems?{query}");
        let r = get(&app, &uri).await;
        if query == "only" {
            // `only` without `$` is not a query parameter of the protocol: ignored.
            assert_eq!(r.status, StatusCode::OK, "{uri}");
        } else {
            assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{uri}");
            assert!(
                message_id(&r.body).ends_with("QueryNotSupported"),
                "{uri}: {}",
                r.body
            );
        }
    }
    // Parameters without `$` are still ignored on any resource.
    let plain = get(&app, &format!("/redfish/v1/Systems/{id}?foo=bar")).await;
    assert_eq!(plain.status, StatusCode::OK);
}

#[tokio::test]
async fn posting_to_a_collections_members_posts_to_the_collection() {
    let (app, id, _) = setup(1);
    let login = send(
        &app,
        Method::POST,
        "/redfish/v1/SessionService/Sessions/Members",
        &[],
        Some(json!({"UserName": fixture::USER, "Password": fixture::PASSWORD})),
    )
    .await;
    assert_eq!(login.status, StatusCode::CREATED, "{}", login.body);
    let token = login.headers["x-auth-token"].to_str().unwrap().to_string();
    let location = login.headers[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/redfish/v1/SessionService/Sessions/"));
    let uri = format!("/redfish/v1/Systems/{id}");
    let ok = send(&app, Method::GET, &uri, &[("x-auth-token", &token)], None).await;
    assert_eq!(ok.status, StatusCode::OK);
    // A collection that takes no POST refuses it on its Members as on itself.
    let auth = basic();
    let accounts = send(
        &app,
        Method::POST,
        "/redfish/v1/AccountService/Accounts/Members",
        &[("authorization", &auth)],
        Some(json!({})),
    )
    .await;
    assert_eq!(accounts.status, StatusCode::METHOD_NOT_ALLOWED);
}
