//! The deployment a claim asks for (image, customDeploy, data Secrets, power), its validation,
//! the patch that binds a host, and how later edits reach the host.
//!
//! Edits rule: the deployment fields are written when the host is bound and may be changed while
//! the host is still `available` (it has not started deploying). Once the host is provisioning or
//! provisioned, a changed deployment is not pushed (the host keeps the deployment it started
//! with) and the claim reports `Synced=False` naming the changed fields; the edit stays in the
//! claim. Power (`poweredOn` → `online`) is forwarded in every state.

use k8s_openapi::api::core::v1::SecretReference;
use kube::ResourceExt;
use serde_json::{Map, Value, json};

use super::ClaimRef;
use super::choice::target_namespace;
use super::selector::{Selector, SelectorError};
use crate::api::{
    BareMetalHost, CustomDeploy, FieldError, FieldErrorKind, HostClaim, HostClaimSpec, Image,
    ProvisioningState,
};

/// The host fields a claim controls (besides `online` and `consumerRef`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeployFields {
    pub image: Option<Image>,
    pub custom_deploy: Option<CustomDeploy>,
    pub user_data: Option<SecretReference>,
    pub network_data: Option<SecretReference>,
    pub meta_data: Option<SecretReference>,
}

/// Field names as they appear in both specs, in a fixed order.
const FIELDS: [&str; 5] = [
    "image",
    "customDeploy",
    "userData",
    "networkData",
    "metaData",
];

impl DeployFields {
    /// What the claim asks for; Secret references without a namespace get the claim's.
    pub fn of_claim(claim: &HostClaim) -> Self {
        let namespace = claim.namespace().unwrap_or_default();
        let secret = |r: &Option<SecretReference>| {
            r.clone().map(|mut r| {
                if r.namespace.as_deref().is_none_or(str::is_empty) {
                    r.namespace = Some(namespace.clone());
                }
                r
            })
        };
        Self {
            image: claim.spec.image.clone(),
            custom_deploy: claim.spec.custom_deploy.clone(),
            user_data: secret(&claim.spec.user_data),
            network_data: secret(&claim.spec.network_data),
            meta_data: secret(&claim.spec.meta_data),
        }
    }

    /// What the host carries now.
    pub fn on_host(host: &BareMetalHost) -> Self {
        let namespace = host.namespace().unwrap_or_default();
        let secret = |r: &Option<SecretReference>| {
            r.clone().map(|mut r| {
                if r.namespace.as_deref().is_none_or(str::is_empty) {
                    r.namespace = Some(namespace.clone());
                }
                r
            })
        };
        Self {
            image: host.spec.image.clone(),
            custom_deploy: host.spec.custom_deploy.clone(),
            user_data: secret(&host.spec.user_data),
            network_data: secret(&host.spec.network_data),
            meta_data: secret(&host.spec.meta_data),
        }
    }

    /// True when nothing is to be deployed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// True when an image or a custom deploy is asked for (the host will be provisioned).
    pub fn deploys(&self) -> bool {
        self.image.is_some() || self.custom_deploy.is_some()
    }

    fn values(&self) -> [Value; 5] {
        let v = |x: Option<Value>| x.unwrap_or(Value::Null);
        [
            v(self
                .image
                .as_ref()
                .and_then(|x| serde_json::to_value(x).ok())),
            v(self
                .custom_deploy
                .as_ref()
                .and_then(|x| serde_json::to_value(x).ok())),
            v(self
                .user_data
                .as_ref()
                .and_then(|x| serde_json::to_value(x).ok())),
            v(self
                .network_data
                .as_ref()
                .and_then(|x| serde_json::to_value(x).ok())),
            v(self
                .meta_data
                .as_ref()
                .and_then(|x| serde_json::to_value(x).ok())),
        ]
    }

    /// Names of the fields that differ from `other`, in a fixed order.
    pub fn differing_fields(&self, other: &Self) -> Vec<&'static str> {
        let (a, b) = (self.values(), other.values());
        FIELDS
            .iter()
            .zip(a.iter().zip(b.iter()))
            .filter(|(_, (x, y))| x != y)
            .map(|(name, _)| *name)
            .collect()
    }

    /// Merge-patch entries that set every field (absent ones to `null`, which clears them).
    fn patch_entries(&self, into: &mut Map<String, Value>) {
        for (name, value) in FIELDS.iter().zip(self.values()) {
            into.insert((*name).to_owned(), value);
        }
    }

    /// The Secrets the deployment names: `(field, namespace, name)`.
    pub fn secrets(&self) -> Vec<(&'static str, String, String)> {
        [
            ("userData", &self.user_data),
            ("networkData", &self.network_data),
            ("metaData", &self.meta_data),
        ]
        .into_iter()
        .filter_map(|(field, r)| {
            let r = r.as_ref()?;
            Some((
                field,
                r.namespace.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            ))
        })
        .collect()
    }
}

/// Something wrong with a claim's spec that an edit must fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// `hostSelector` cannot be compiled.
    Selector(SelectorError),
    /// `image.url` is empty.
    ImageWithoutUrl,
    /// The image needs a checksum (only live-iso and oci:// images do not).
    ImageWithoutChecksum { url: String },
    /// A data Secret reference names another namespace than the claim's.
    SecretInOtherNamespace {
        field: &'static str,
        namespace: String,
    },
    /// A data Secret reference has no name.
    SecretWithoutName { field: &'static str },
    /// Data Secrets with hosts from another namespace: a host reads its Secrets from its own.
    DataAcrossNamespaces { host_namespace: String },
}

impl Problem {
    /// The condition and Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Selector(_) => "InvalidSelector",
            Self::ImageWithoutUrl => "ImageURLMissing",
            Self::ImageWithoutChecksum { .. } => "ImageChecksumMissing",
            Self::SecretInOtherNamespace { .. } => "SecretInOtherNamespace",
            Self::SecretWithoutName { .. } => "SecretNameMissing",
            Self::DataAcrossNamespaces { .. } => "DataAcrossNamespaces",
        }
    }

    /// A sentence for the condition message and the Event note.
    pub fn message(&self) -> String {
        match self {
            Self::Selector(e) => format!("hostSelector: {e}"),
            Self::ImageWithoutUrl => "image.url is empty".to_owned(),
            Self::ImageWithoutChecksum { url } => {
                format!("image {url} has no checksum (only live-iso and oci:// images may omit it)")
            }
            Self::SecretInOtherNamespace { field, namespace } => format!(
                "{field} names a Secret in namespace {namespace}; it must be in the claim's namespace"
            ),
            Self::SecretWithoutName { field } => format!("{field} names no Secret"),
            Self::DataAcrossNamespaces { host_namespace } => format!(
                "hosts come from namespace {host_namespace}, which cannot read the claim's data Secrets"
            ),
        }
    }

    /// The problem as a Kubernetes field error on `spec` (the claim spec it was found in), whose
    /// path is `spec_path` (`spec` for a claim, `spec.template.spec` for a pool's template).
    pub fn field_error(&self, spec: &HostClaimSpec, spec_path: &str) -> FieldError {
        use FieldErrorKind::{Forbidden, Invalid, NotSupported, Required};
        let expression =
            |index: &usize| format!("{spec_path}.hostSelector.matchExpressions[{index}]");
        match self {
            Self::Selector(SelectorError::UnknownOperator {
                index,
                key,
                operator,
            }) => FieldError::new(
                NotSupported,
                format!("{}.operator", expression(index)),
                operator,
                format!("not a label selector operator (key {key:?})"),
            ),
            Self::Selector(SelectorError::BadValues {
                index,
                key,
                operator,
                needs,
            }) => {
                let values = spec
                    .host_selector
                    .as_ref()
                    .and_then(|s| s.match_expressions.get(*index))
                    .map(|e| e.values.join(","))
                    .unwrap_or_default();
                FieldError::new(
                    Invalid,
                    format!("{}.values", expression(index)),
                    values,
                    format!("operator {operator} on key {key:?} needs {needs}"),
                )
            }
            Self::Selector(SelectorError::EmptyKey { index }) => FieldError::new(
                Required,
                format!("{}.key", expression(index)),
                "",
                "a requirement needs a label key",
            ),
            Self::ImageWithoutUrl => FieldError::new(
                Required,
                format!("{spec_path}.image.url"),
                "",
                "an image needs a URL",
            ),
            Self::ImageWithoutChecksum { url } => FieldError::new(
                Required,
                format!("{spec_path}.image.checksum"),
                "",
                format!(
                    "image {url} needs a checksum (only live-iso and oci:// images may omit it)"
                ),
            ),
            Self::SecretInOtherNamespace { field, namespace } => FieldError::new(
                Forbidden,
                format!("{spec_path}.{field}.namespace"),
                namespace,
                "the Secret must be in the claim's namespace",
            ),
            Self::SecretWithoutName { field } => FieldError::new(
                Required,
                format!("{spec_path}.{field}.name"),
                "",
                "a Secret reference needs a name",
            ),
            Self::DataAcrossNamespaces { host_namespace } => FieldError::new(
                Forbidden,
                format!("{spec_path}.hostSelector.inNamespace"),
                host_namespace,
                "a host reads its data Secrets from its own namespace, so a claim with data Secrets \
                 must take hosts from its own namespace",
            ),
        }
    }
}

/// Everything wrong with the claim's spec (empty when it can be acted on).
pub fn validate(claim: &HostClaim) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(e) = Selector::compile(claim.spec.host_selector.as_ref()) {
        problems.push(Problem::Selector(e));
    }
    if let Some(image) = &claim.spec.image {
        if image.url.is_empty() {
            problems.push(Problem::ImageWithoutUrl);
        } else if image.checksum.as_deref().is_none_or(str::is_empty) && !image.is_checksum_exempt()
        {
            problems.push(Problem::ImageWithoutChecksum {
                url: image.url.clone(),
            });
        }
    }
    let namespace = claim.namespace().unwrap_or_default();
    let refs = [
        ("userData", &claim.spec.user_data),
        ("networkData", &claim.spec.network_data),
        ("metaData", &claim.spec.meta_data),
    ];
    let mut any_data = false;
    for (field, r) in refs {
        let Some(r) = r else { continue };
        any_data = true;
        if r.name.as_deref().is_none_or(str::is_empty) {
            problems.push(Problem::SecretWithoutName { field });
        }
        if let Some(ns) = r
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty() && *ns != namespace)
        {
            problems.push(Problem::SecretInOtherNamespace {
                field,
                namespace: ns.to_owned(),
            });
        }
    }
    let target = target_namespace(claim);
    if any_data && target != namespace {
        problems.push(Problem::DataAcrossNamespaces {
            host_namespace: target,
        });
    }
    problems
}

/// The merge patch that binds `host` to the claim: `consumerRef`, the deployment and `online`,
/// with the host's `resourceVersion` as precondition (a concurrent change makes it a conflict).
pub fn bind_patch(claim: &ClaimRef, spec: &HostClaim, host: &BareMetalHost) -> Value {
    let mut fields = Map::new();
    fields.insert(
        "consumerRef".into(),
        serde_json::to_value(claim.consumer_ref()).unwrap_or(Value::Null),
    );
    DeployFields::of_claim(spec).patch_entries(&mut fields);
    fields.insert("online".into(), Value::Bool(spec.spec.powered_on));
    with_precondition(host, fields)
}

pub(crate) fn with_precondition(host: &BareMetalHost, spec: Map<String, Value>) -> Value {
    json!({
        "metadata": {"resourceVersion": host.metadata.resource_version.clone().unwrap_or_default()},
        "spec": Value::Object(spec),
    })
}

/// What keeping a bound host in line with its claim needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sync {
    /// The merge patch to apply to the host (with a `resourceVersion` precondition), if any.
    pub patch: Option<Value>,
    /// Deployment fields that differ but cannot be applied because the host already started
    /// deploying.
    pub blocked: Vec<&'static str>,
}

/// True while a bound host has not started deploying, so its deployment may still change.
fn deployment_editable(host: &BareMetalHost) -> bool {
    let status = host.status.clone().unwrap_or_default();
    matches!(
        status.provisioning.state,
        ProvisioningState::Available | ProvisioningState::Ready
    ) && status.provisioning.image.is_none()
        && status.provisioning.custom_deploy.is_none()
}

/// How to bring a host bound to `claim` in line with it (see the module's edits rule).
pub fn sync(claim: &HostClaim, host: &BareMetalHost) -> Sync {
    let want = DeployFields::of_claim(claim);
    let have = DeployFields::on_host(host);
    let changed = want.differing_fields(&have);
    let mut fields = Map::new();
    let mut blocked = Vec::new();
    if !changed.is_empty() {
        if deployment_editable(host) {
            want.patch_entries(&mut fields);
        } else {
            blocked = changed;
        }
    }
    if host.spec.online != claim.spec.powered_on {
        fields.insert("online".into(), Value::Bool(claim.spec.powered_on));
    }
    Sync {
        patch: (!fields.is_empty()).then(|| with_precondition(host, fields)),
        blocked,
    }
}
