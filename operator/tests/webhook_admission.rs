//! The admission webhook's router, driven with `oneshot` the way the API server calls it: one
//! AdmissionReview per request, the answer's uid echoed, refusals that read like Kubernetes'
//! own validation errors.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use metal_operator::telemetry::Metrics;
use metal_operator::webhook::{Target, WebhookState, app};
use metal_testkit::hosts::Bmh;
use serde_json::{Value, json};
use tower::ServiceExt;

const UID: &str = "705ab4f5-6393-11e8-b7cc-42010a800002";

fn host() -> Value {
    Bmh::new("worker-0")
        .namespace("metal3")
        .set("/metadata/uid", json!("1"))
        .bmc("redfish://192.0.2.10/redfish/v1/Systems/1", "worker-0-bmc")
        .boot_mac("00:5c:52:31:3a:9c")
        .online(true)
        .json()
}

fn claim() -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostClaim",
        "metadata": {"name": "claim-0", "namespace": "team"},
        "spec": {"image": {"url": "http://images.example/os.img", "checksum": "abc"}},
    })
}

fn pool() -> Value {
    json!({
        "apiVersion": "metal-operator.io/v1alpha1",
        "kind": "HostPool",
        "metadata": {"name": "gpu", "namespace": "team"},
        "spec": {"replicas": 2, "template": {"spec": {}}},
    })
}

/// An `admission.k8s.io/v1` AdmissionReview as the API server sends it.
struct Review {
    target: Target,
    operation: &'static str,
    object: Value,
    old: Value,
}

impl Review {
    fn create(target: Target, object: Value) -> Self {
        Self {
            target,
            operation: "CREATE",
            object,
            old: Value::Null,
        }
    }

    fn update(target: Target, old: Value, object: Value) -> Self {
        Self {
            target,
            operation: "UPDATE",
            object,
            old,
        }
    }

    fn delete(target: Target, old: Value) -> Self {
        Self {
            target,
            operation: "DELETE",
            object: Value::Null,
            old,
        }
    }

    fn body(&self) -> Value {
        let (group, kind, resource) = match self.target {
            Target::BareMetalHost => ("metal3.io", "BareMetalHost", "baremetalhosts"),
            Target::HostClaim => ("metal3.io", "HostClaim", "hostclaims"),
            Target::HostPool => ("metal-operator.io", "HostPool", "hostpools"),
        };
        let named = if self.object.is_null() {
            &self.old
        } else {
            &self.object
        };
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": UID,
                "kind": {"group": group, "version": "v1alpha1", "kind": kind},
                "resource": {"group": group, "version": "v1alpha1", "resource": resource},
                "name": named["metadata"]["name"],
                "namespace": named["metadata"]["namespace"],
                "operation": self.operation,
                "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
                "object": self.object,
                "oldObject": self.old,
                "dryRun": false,
            },
        })
    }

    async fn send(&self) -> Answer {
        let (status, body) = post(self.target.path(), self.body().to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let review: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["kind"], "AdmissionReview");
        assert_eq!(review["response"]["uid"], UID, "the uid is echoed");
        Answer(review["response"].clone())
    }
}

/// The `response` of an answered review.
struct Answer(Value);

impl Answer {
    fn allowed(&self) -> bool {
        self.0["allowed"].as_bool().unwrap()
    }
    fn code(&self) -> i64 {
        self.0["status"]["code"].as_i64().unwrap_or_default()
    }
    fn message(&self) -> &str {
        self.0["status"]["message"].as_str().unwrap_or_default()
    }
    fn causes(&self) -> Vec<(String, String)> {
        self.0["status"]["details"]["causes"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            c["field"].as_str().unwrap_or_default().to_owned(),
                            c["reason"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    fn warnings(&self) -> Vec<String> {
        serde_json::from_value(self.0["warnings"].clone()).unwrap_or_default()
    }
}

async fn post_with(metrics: Metrics, path: &str, body: String) -> (StatusCode, String) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app(WebhookState { metrics })
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn post(path: &str, body: String) -> (StatusCode, String) {
    post_with(Metrics::new(), path, body).await
}

#[tokio::test]
async fn a_valid_host_is_allowed() {
    let answer = Review::create(Target::BareMetalHost, host()).send().await;
    assert!(answer.allowed(), "{:?}", answer.0);
    assert!(answer.warnings().is_empty());
}

#[tokio::test]
async fn a_bad_bmc_address_is_refused_naming_spec_bmc_address_and_the_value() {
    let mut bad = host();
    bad["spec"]["bmc"]["address"] = json!("foo://192.0.2.10");
    let answer = Review::create(Target::BareMetalHost, bad).send().await;
    assert!(!answer.allowed());
    assert_eq!(answer.code(), 422);
    assert_eq!(answer.0["status"]["reason"], "Invalid");
    assert!(
        answer.message().starts_with(
            "BareMetalHost.metal3.io \"worker-0\" is invalid: \
             spec.bmc.address: Invalid value: \"foo://192.0.2.10\": "
        ),
        "{}",
        answer.message()
    );
    assert_eq!(
        answer.causes(),
        [(
            "spec.bmc.address".to_owned(),
            "FieldValueInvalid".to_owned()
        )]
    );
}

#[tokio::test]
async fn boot_mac_address_cannot_change_once_set() {
    let mut changed = host();
    changed["spec"]["bootMACAddress"] = json!("00:5c:52:31:3a:9d");
    let answer = Review::update(Target::BareMetalHost, host(), changed)
        .send()
        .await;
    assert!(!answer.allowed());
    assert!(
        answer.message().contains(
            "spec.bootMACAddress: Forbidden: \"00:5c:52:31:3a:9d\": \
             bootMACAddress can not be changed once it is set"
        ),
        "{}",
        answer.message()
    );
    assert_eq!(
        answer.causes(),
        [(
            "spec.bootMACAddress".to_owned(),
            "FieldValueForbidden".to_owned()
        )]
    );
}

#[tokio::test]
async fn an_update_that_keeps_an_old_problem_is_allowed_with_a_warning() {
    // Stored before the webhook existed: a cross-namespace user-data Secret.
    let mut old = host();
    old["spec"]["userData"] = json!({"name": "ud", "namespace": "elsewhere"});
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"rack": "r1"});
    let answer = Review::update(Target::BareMetalHost, old.clone(), new.clone())
        .send()
        .await;
    assert!(answer.allowed(), "{:?}", answer.0);
    let warnings = answer.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("spec.userData.namespace: Forbidden: \"elsewhere\""));
    // A new problem on top of the old one is refused, naming only the new one.
    new["spec"]["bootMode"] = json!("bios-ish");
    let answer = Review::update(Target::BareMetalHost, old, new).send().await;
    assert!(!answer.allowed());
    assert_eq!(
        answer.causes(),
        [(
            "spec.bootMode".to_owned(),
            "FieldValueNotSupported".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_host_being_deleted_may_always_be_updated_so_its_finalizer_can_go() {
    let mut old = host();
    old["spec"]["bmc"]["address"] = json!("foo://x");
    old["metadata"]["finalizers"] = json!(["baremetalhost.metal3.io"]);
    let mut new = old.clone();
    new["spec"]["bootMACAddress"] = json!("00:5c:52:31:3a:9d");
    new["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    new["metadata"]["finalizers"] = json!([]);
    let answer = Review::update(Target::BareMetalHost, old, new).send().await;
    assert!(answer.allowed(), "{:?}", answer.0);
}

#[tokio::test]
async fn deletes_are_allowed() {
    let mut old = host();
    old["spec"]["bmc"]["address"] = json!("foo://x");
    let answer = Review::delete(Target::BareMetalHost, old).send().await;
    assert!(answer.allowed());
}

#[tokio::test]
async fn an_object_that_does_not_decode_as_its_kind_is_refused_naming_it() {
    let mut bad = host();
    bad["spec"]["online"] = json!("yes please");
    let answer = Review::create(Target::BareMetalHost, bad).send().await;
    assert!(!answer.allowed());
    assert_eq!(answer.code(), 400);
    assert!(
        answer.message().starts_with(
            "request.object.spec.online cannot be decoded as BareMetalHost.metal3.io/v1alpha1: "
        ),
        "{}",
        answer.message()
    );
    // An update without its old object is refused too, never allowed silently.
    let answer = Review::update(Target::BareMetalHost, Value::Null, host())
        .send()
        .await;
    assert!(!answer.allowed());
    assert!(
        answer.message().contains("request.oldObject") && answer.message().contains("missing"),
        "{}",
        answer.message()
    );
}

#[tokio::test]
async fn a_malformed_review_body_gives_400_with_a_message() {
    let (status, body) = post(Target::BareMetalHost.path(), "{not json".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("the body is not JSON: "), "{body}");

    let (status, body) = post(Target::BareMetalHost.path(), r#"{"kind": 3}"#.into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with("the body is not an admission.k8s.io/v1 AdmissionReview: "),
        "{body}"
    );

    let mut old_version = Review::create(Target::BareMetalHost, host()).body();
    old_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (status, body) = post(Target::BareMetalHost.path(), old_version.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("admission.k8s.io/v1beta1"), "{body}");

    let no_request = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
    let (status, body) = post(Target::BareMetalHost.path(), no_request.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "the AdmissionReview has no request\n");
}

#[tokio::test]
async fn a_kind_the_path_has_no_rules_for_is_allowed_with_a_warning() {
    let review = Review::create(Target::HostClaim, claim());
    let (status, body) = post(Target::BareMetalHost.path(), review.body().to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let review: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(review["response"]["allowed"], true);
    assert!(
        review["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no rules for metal3.io/v1alpha1 HostClaim"),
        "{review}"
    );
}

#[tokio::test]
async fn a_valid_claim_is_allowed() {
    let answer = Review::create(Target::HostClaim, claim()).send().await;
    assert!(answer.allowed(), "{:?}", answer.0);
}

#[tokio::test]
async fn a_claim_whose_data_secret_is_in_another_namespace_is_refused() {
    let mut bad = claim();
    bad["spec"]["userData"] = json!({"name": "ud", "namespace": "elsewhere"});
    bad["spec"]["image"]["checksum"] = Value::Null;
    let answer = Review::create(Target::HostClaim, bad).send().await;
    assert!(!answer.allowed());
    assert_eq!(answer.code(), 422);
    assert!(
        answer.message().starts_with(
            "HostClaim.metal3.io \"claim-0\" is invalid: [spec.image.checksum: Required value"
        ),
        "{}",
        answer.message()
    );
    assert!(
        answer
            .message()
            .contains("spec.userData.namespace: Forbidden: \"elsewhere\""),
        "{}",
        answer.message()
    );
}

#[tokio::test]
async fn a_valid_pool_is_allowed_and_negative_replicas_are_refused() {
    let answer = Review::create(Target::HostPool, pool()).send().await;
    assert!(answer.allowed(), "{:?}", answer.0);
    let mut bad = pool();
    bad["spec"]["replicas"] = json!(-2);
    let answer = Review::update(Target::HostPool, pool(), bad).send().await;
    assert!(!answer.allowed());
    assert_eq!(
        answer.message(),
        "HostPool.metal-operator.io \"gpu\" is invalid: spec.replicas: Invalid value: \"-2\": \
         must be greater than or equal to 0"
    );
}

#[tokio::test]
async fn every_answer_is_counted_by_path_and_http_status() {
    let metrics = Metrics::new();
    let path = Target::HostPool.path();
    let body = Review::create(Target::HostPool, pool()).body().to_string();
    post_with(metrics.clone(), path, body).await;
    post_with(metrics.clone(), path, "nope".into()).await;
    let text = metrics.render().unwrap();
    for code in [200, 400] {
        let needle = format!(
            "controller_runtime_webhook_requests_total{{webhook=\"{path}\",code=\"{code}\"}} 1"
        );
        assert!(text.contains(&needle), "{needle} not in\n{text}");
    }
}
