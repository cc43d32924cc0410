//! The pure core of the webhook: an `admission.k8s.io/v1` AdmissionReview in, the answer out.
//!
//! What is judged, per operation:
//! * CREATE: the kind's rules ([`validate_host`], [`claim::validate`], [`pool::validate`]).
//! * UPDATE: the same, plus the host's immutability rules ([`validate_host_update`]). A problem the
//!   stored object already had (same field, same kind of problem, same value) does not refuse the
//!   update; it comes back as a warning. Objects stored before the webhook was installed thereby
//!   stay editable, as Kubernetes ratchets CRD schema validation. An object that is being deleted
//!   is never refused, so its finalizers can always be removed.
//! * DELETE, CONNECT, a subresource, or a kind other than the path's: allowed.
//!
//! A refusal reads as the API server's own validation errors do: `status.code` 422, reason
//! `Invalid`, one cause per field, and the message
//! `BareMetalHost.metal3.io "h" is invalid: spec.bmc.address: Invalid value: "foo": ...`.
//! An object that cannot be decoded as its kind is refused with 400 `BadRequest` naming the
//! object and the decoding error. A body that is no AdmissionReview at all is a [`ReviewError`]
//! (the server answers HTTP 400; the API server then applies the webhook's failure policy).

use kube::Resource;
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use kube::core::{DynamicObject, Status};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::hostpool::POOL_GROUP;
use crate::api::{FieldError, FieldErrorKind, HostClaim, validate_host, validate_host_update};
use crate::{claim, pool};

/// The version of every kind the webhook judges.
pub const VERSION: &str = "v1alpha1";

/// A kind the webhook has rules for; each is served on its own path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    BareMetalHost,
    HostClaim,
    HostPool,
}

impl Target {
    /// Every target, in the order the ValidatingWebhookConfiguration lists them.
    pub const ALL: [Self; 3] = [Self::BareMetalHost, Self::HostClaim, Self::HostPool];

    /// API group of the kind.
    pub fn group(self) -> &'static str {
        match self {
            Self::BareMetalHost | Self::HostClaim => "metal3.io",
            Self::HostPool => POOL_GROUP,
        }
    }

    /// The kind's name.
    pub fn kind(self) -> &'static str {
        match self {
            Self::BareMetalHost => "BareMetalHost",
            Self::HostClaim => "HostClaim",
            Self::HostPool => "HostPool",
        }
    }

    /// The HTTP path, named as controller-runtime names validating webhooks
    /// (`/validate-<group with dashes>-<version>-<kind in lower case>`).
    pub fn path(self) -> &'static str {
        match self {
            Self::BareMetalHost => "/validate-metal3-io-v1alpha1-baremetalhost",
            Self::HostClaim => "/validate-metal3-io-v1alpha1-hostclaim",
            Self::HostPool => "/validate-metal-operator-io-v1alpha1-hostpool",
        }
    }

    fn accepts(self, request: &AdmissionRequest<DynamicObject>) -> bool {
        request.kind.group == self.group()
            && request.kind.version == VERSION
            && request.kind.kind == self.kind()
    }
}

/// Why a body could not be answered with an AdmissionReview (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an AdmissionReview with a request.
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    NotAReview(#[source] serde_json::Error),
    /// Another API version or kind than `admission.k8s.io/v1` `AdmissionReview`.
    #[error(
        "expected apiVersion {META_API_VERSION_V1:?} and kind {META_KIND:?}, got {api_version:?} and {kind:?} \
         (the webhook is registered with admissionReviewVersions [v1])"
    )]
    UnsupportedVersion { api_version: String, kind: String },
    /// The review carries no `request`.
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

/// An AdmissionReview's request, with its objects kept as sent until the kind is known.
#[derive(Debug)]
pub struct Review {
    /// The request, without `object` and `oldObject` (see [`Review::parse`]).
    pub request: AdmissionRequest<DynamicObject>,
    object: Value,
    old_object: Value,
}

/// Answers `body` for `target`: the response review, or why the body is not a review.
pub fn review(target: Target, body: &[u8]) -> Result<AdmissionReview<DynamicObject>, ReviewError> {
    Ok(Review::parse(body)?.answer(target).into_review())
}

impl Review {
    /// Parses an AdmissionReview. The objects are taken out first, so that one that does not
    /// decode as its kind is refused with a message naming it rather than failing the whole body.
    pub fn parse(body: &[u8]) -> Result<Self, ReviewError> {
        let mut value: Value = serde_json::from_slice(body).map_err(ReviewError::NotJson)?;
        let mut take = |key: &str| {
            value
                .get_mut("request")
                .and_then(|r| r.get_mut(key))
                .map(Value::take)
                .unwrap_or(Value::Null)
        };
        let object = take("object");
        let old_object = take("oldObject");
        let review: AdmissionReview<DynamicObject> =
            serde_json::from_value(value).map_err(ReviewError::NotAReview)?;
        if review.types.api_version != META_API_VERSION_V1 || review.types.kind != META_KIND {
            return Err(ReviewError::UnsupportedVersion {
                api_version: review.types.api_version,
                kind: review.types.kind,
            });
        }
        let request = review.try_into().map_err(|_| ReviewError::NoRequest)?;
        Ok(Self {
            request,
            object,
            old_object,
        })
    }

    /// The answer for `target` (the request's `uid` echoed).
    pub fn answer(&self, target: Target) -> AdmissionResponse {
        let request = &self.request;
        let skip = !target.accepts(request)
            || request
                .sub_resource
                .as_deref()
                .is_some_and(|s| !s.is_empty())
            || !matches!(request.operation, Operation::Create | Operation::Update);
        if skip {
            let mut response = AdmissionResponse::from(request);
            if !target.accepts(request) {
                let k = &request.kind;
                response.warnings = Some(vec![format!(
                    "metal-operator webhook {}: no rules for {}/{} {}; allowed",
                    target.path(),
                    k.group,
                    k.version,
                    k.kind
                )]);
            }
            return response;
        }
        let judged = match target {
            Target::BareMetalHost => self.judge(target, validate_host, validate_host_update),
            Target::HostClaim => self.judge(target, claim_errors, |_, new| claim_errors(new)),
            Target::HostPool => self.judge(target, pool::validate, |_, new| pool::validate(new)),
        };
        match judged {
            Ok(judgement) => judgement.response(request, target),
            Err(undecodable) => undecodable.response(request),
        }
    }

    /// Decodes the objects as `K` and applies `create` or `update` (see the module's rules).
    fn judge<K: Resource + DeserializeOwned>(
        &self,
        target: Target,
        create: impl Fn(&K) -> Vec<FieldError>,
        update: impl Fn(&K, &K) -> Vec<FieldError>,
    ) -> Result<Judgement, Undecodable> {
        let new: K = decode(&self.object, "object", target)?;
        let name = new
            .meta()
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.request.name.clone());
        if self.request.operation == Operation::Create {
            return Ok(Judgement {
                name,
                refused: create(&new),
                ratcheted: Vec::new(),
            });
        }
        if new.meta().deletion_timestamp.is_some() {
            return Ok(Judgement {
                name,
                refused: Vec::new(),
                ratcheted: Vec::new(),
            });
        }
        let old: K = decode(&self.old_object, "oldObject", target)?;
        let before = create(&old);
        let (ratcheted, refused) = update(&old, &new)
            .into_iter()
            .partition(|e| before.iter().any(|b| same_problem(b, e)));
        Ok(Judgement {
            name,
            refused,
            ratcheted,
        })
    }
}

fn claim_errors(claim: &HostClaim) -> Vec<FieldError> {
    claim::validate(claim)
        .iter()
        .map(|p| p.field_error(&claim.spec, "spec"))
        .collect()
}

/// Same field, same class, same value (the explanation may mention other state).
fn same_problem(a: &FieldError, b: &FieldError) -> bool {
    a.kind == b.kind && a.path == b.path && a.value == b.value
}

fn decode<K: DeserializeOwned>(
    value: &Value,
    field: &'static str,
    target: Target,
) -> Result<K, Undecodable> {
    if value.is_null() {
        return Err(Undecodable {
            field: format!("request.{field}"),
            target,
            error: "it is missing".to_owned(),
        });
    }
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        Undecodable {
            field: match path.as_str() {
                "." => format!("request.{field}"),
                inner => format!("request.{field}.{inner}"),
            },
            target,
            error: e.into_inner().to_string(),
        }
    })
}

/// An object of the request that is not a valid instance of the path's kind.
struct Undecodable {
    /// Where decoding failed, e.g. `request.object.spec.online`.
    field: String,
    target: Target,
    error: String,
}

impl Undecodable {
    fn response(&self, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        let message = format!(
            "{} cannot be decoded as {}.{}/{VERSION}: {}",
            self.field,
            self.target.kind(),
            self.target.group(),
            self.error
        );
        let mut response = AdmissionResponse::from(request);
        response.allowed = false;
        response.result = Status {
            status: Some(StatusSummary::Failure),
            code: 400,
            message,
            reason: "BadRequest".to_owned(),
            ..Status::default()
        };
        response
    }
}

/// The field errors that refuse the request, and those tolerated because the old object had them.
struct Judgement {
    name: String,
    refused: Vec<FieldError>,
    ratcheted: Vec<FieldError>,
}

impl Judgement {
    fn response(
        self,
        request: &AdmissionRequest<DynamicObject>,
        target: Target,
    ) -> AdmissionResponse {
        let mut response = AdmissionResponse::from(request);
        if !self.ratcheted.is_empty() {
            response.warnings = Some(
                self.ratcheted
                    .iter()
                    .map(|e| format!("{e} (unchanged since before this update, so allowed)"))
                    .collect(),
            );
        }
        if self.refused.is_empty() {
            return response;
        }
        response.allowed = false;
        response.result = invalid(target, &self.name, &self.refused);
        response
    }
}

/// The Status the API server's own `errors.NewInvalid` builds: 422 `Invalid` with one cause per
/// field, the message listing every error (in brackets when there are several).
pub fn invalid(target: Target, name: &str, errors: &[FieldError]) -> Status {
    let listed = match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let causes = errors
        .iter()
        .map(|e| StatusCause {
            reason: cause_reason(e.kind).to_owned(),
            message: format!("{}: {:?}: {}", e.kind, e.value, e.detail),
            field: e.path.clone(),
        })
        .collect();
    Status {
        status: Some(StatusSummary::Failure),
        code: 422,
        message: format!(
            "{}.{} {name:?} is invalid: {listed}",
            target.kind(),
            target.group()
        ),
        reason: "Invalid".to_owned(),
        details: Some(StatusDetails {
            name: name.to_owned(),
            group: target.group().to_owned(),
            kind: target.kind().to_owned(),
            uid: String::new(),
            causes,
            retry_after_seconds: 0,
        }),
        metadata: None,
    }
}

/// The cause type Kubernetes gives each class of field error.
fn cause_reason(kind: FieldErrorKind) -> &'static str {
    match kind {
        FieldErrorKind::Invalid => "FieldValueInvalid",
        FieldErrorKind::Required => "FieldValueRequired",
        FieldErrorKind::Forbidden => "FieldValueForbidden",
        FieldErrorKind::NotSupported => "FieldValueNotSupported",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BareMetalHost, HostPool};

    #[test]
    fn each_target_names_the_group_and_kind_its_type_declares() {
        fn check<K: Resource<DynamicType = ()>>(target: Target) {
            assert_eq!(target.group(), K::group(&()));
            assert_eq!(target.kind(), K::kind(&()));
            assert_eq!(VERSION, K::version(&()));
            let expected = format!(
                "/validate-{}-{}-{}",
                K::group(&()).replace('.', "-"),
                K::version(&()),
                K::kind(&()).to_lowercase()
            );
            assert_eq!(target.path(), expected);
        }
        check::<BareMetalHost>(Target::BareMetalHost);
        check::<HostClaim>(Target::HostClaim);
        check::<HostPool>(Target::HostPool);
    }

    #[test]
    fn several_errors_are_listed_in_brackets_as_kubernetes_aggregates_them() {
        let a = FieldError::new(FieldErrorKind::Invalid, "spec.a", "x", "bad");
        let b = FieldError::new(FieldErrorKind::Required, "spec.b", "", "missing");
        let status = invalid(Target::HostClaim, "c", &[a, b]);
        assert_eq!(
            status.message,
            "HostClaim.metal3.io \"c\" is invalid: [spec.a: Invalid value: \"x\": bad, \
             spec.b: Required value: \"\": missing]"
        );
        let causes = status.details.map(|d| d.causes).unwrap_or_default();
        assert_eq!(causes[1].reason, "FieldValueRequired");
        assert_eq!(causes[1].field, "spec.b");
    }
}
