//! The writes a [`Decision`] makes to its host, in the order the controller sends them: the
//! finalizer first, then the annotation removals, then the status, then the finalizer's removal.
//!
//! [`writes`] plans them once. The controller sends each [`HostWrite::patch`] as a merge patch
//! (`metal_operator::controller::reconcile`); engine mode and tests call [`apply`], which applies
//! the same plan to the object with [`HostWrite::apply_to`] — the object those patches produce.

use serde_json::{Value, json};

use super::merge_patch::merge_diff;
use super::{Decision, FinalizerChange};
use crate::api::annotations::HOST_FINALIZER;
use crate::api::{BareMetalHost, BareMetalHostStatus};

/// What applying a decision changed on the object (a real API server would bump the
/// resourceVersion and send a watch event exactly when this is not [`Applied::Unchanged`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing on the object changed.
    Unchanged,
    /// Metadata or status changed.
    Changed,
}

impl Applied {
    /// True when the object changed.
    pub fn changed(self) -> bool {
        self == Applied::Changed
    }
}

/// One write of a decision to its host.
#[derive(Clone, Debug, PartialEq)]
pub enum HostWrite {
    /// Add the host finalizer: the whole new list, conditional on the version it was read at
    /// (a concurrent finalizer change is a conflict, not a lost update).
    AddFinalizer {
        finalizers: Vec<String>,
        resource_version: Option<String>,
    },
    /// Remove these annotations (absent ones change nothing).
    RemoveAnnotations(Vec<String>),
    /// Write the status: `patch` is the smallest merge patch from the status read to `status`.
    Status {
        patch: Value,
        status: Box<BareMetalHostStatus>,
    },
    /// Remove the host finalizer, keeping the others.
    RemoveFinalizer { remaining: Vec<String> },
}

impl HostWrite {
    /// The merge patch the controller sends (to the status subresource for [`HostWrite::Status`]).
    pub fn patch(&self) -> Value {
        match self {
            HostWrite::AddFinalizer {
                finalizers,
                resource_version,
            } => {
                json!({"metadata": {"finalizers": finalizers, "resourceVersion": resource_version}})
            }
            HostWrite::RemoveAnnotations(keys) => {
                let nulls: serde_json::Map<String, Value> =
                    keys.iter().map(|k| (k.clone(), Value::Null)).collect();
                json!({"metadata": {"annotations": nulls}})
            }
            HostWrite::Status { patch, .. } => json!({"status": patch}),
            HostWrite::RemoveFinalizer { remaining } => {
                json!({"metadata": {"finalizers": remaining}})
            }
        }
    }

    /// What the write is, for error messages ("finalizer", "annotations", "status").
    pub fn what(&self) -> &'static str {
        match self {
            HostWrite::AddFinalizer { .. } | HostWrite::RemoveFinalizer { .. } => "finalizer",
            HostWrite::RemoveAnnotations(_) => "annotations",
            HostWrite::Status { .. } => "status",
        }
    }

    /// Applies the write to `host` as the API server would; true when the object changed.
    pub fn apply_to(&self, host: &mut BareMetalHost) -> bool {
        match self {
            HostWrite::AddFinalizer { finalizers, .. } => {
                let changed = host.metadata.finalizers.as_ref() != Some(finalizers);
                host.metadata.finalizers = Some(finalizers.clone());
                changed
            }
            HostWrite::RemoveAnnotations(keys) => {
                let Some(annotations) = host.metadata.annotations.as_mut() else {
                    return false;
                };
                let mut changed = false;
                for key in keys {
                    changed |= annotations.remove(key).is_some();
                }
                changed
            }
            HostWrite::Status { status, .. } => {
                let changed = host.status.as_ref() != Some(status);
                host.status = Some((**status).clone());
                changed
            }
            HostWrite::RemoveFinalizer { remaining } => {
                let Some(finalizers) = host.metadata.finalizers.as_mut() else {
                    return false;
                };
                let changed = finalizers != remaining;
                finalizers.clone_from(remaining);
                changed
            }
        }
    }
}

/// The writes `decision` makes to `host`, in order. A finalizer already present is not added
/// again; the status is written only when `status_changed` says so and it differs from the
/// status read (compared typed first, so an unchanged status is never encoded); annotation and finalizer removals are planned whenever the decision asks.
///
/// Errs only when the new status cannot be encoded as JSON.
pub fn writes(host: &BareMetalHost, decision: &Decision) -> Result<Vec<HostWrite>, String> {
    let mut out = Vec::new();
    let finalizers = host.metadata.finalizers.as_deref().unwrap_or_default();
    if decision.finalizer == FinalizerChange::Add && !finalizers.iter().any(|f| f == HOST_FINALIZER)
    {
        let mut added = finalizers.to_vec();
        added.push(HOST_FINALIZER.to_owned());
        out.push(HostWrite::AddFinalizer {
            finalizers: added,
            resource_version: host.metadata.resource_version.clone(),
        });
    }
    if !decision.remove_annotations.is_empty() {
        out.push(HostWrite::RemoveAnnotations(
            decision.remove_annotations.clone(),
        ));
    }
    // Equal typed statuses encode alike: only a status that differs is encoded and diffed.
    if decision.status_changed && host.status.as_ref() != Some(&decision.status) {
        let patch = match &host.status {
            // Fields equal on both sides encode alike and leave no entry in the patch: only the
            // fields that differ are encoded (the large hardware details and conditions rarely do).
            Some(old) => {
                let (old, new) = differing_fields(old, &decision.status);
                let old = serde_json::to_value(old).unwrap_or(Value::Null);
                let new = serde_json::to_value(new).map_err(|e| e.to_string())?;
                merge_diff(&old, &new)
            }
            None => {
                let new = serde_json::to_value(&decision.status).map_err(|e| e.to_string())?;
                merge_diff(&Value::Null, &new)
            }
        };
        if let Some(patch) = patch {
            out.push(HostWrite::Status {
                patch,
                status: Box::new(decision.status.clone()),
            });
        }
    }
    if decision.finalizer == FinalizerChange::Remove {
        out.push(HostWrite::RemoveFinalizer {
            remaining: finalizers
                .iter()
                .filter(|f| *f != HOST_FINALIZER)
                .cloned()
                .collect(),
        });
    }
    Ok(out)
}

/// `old` and `new` with every field they agree on reset to its default on both sides (the same
/// value, so still no difference between them), the fields that differ copied as they are.
fn differing_fields(
    old: &BareMetalHostStatus,
    new: &BareMetalHostStatus,
) -> (BareMetalHostStatus, BareMetalHostStatus) {
    let mut a = BareMetalHostStatus::default();
    let mut b = BareMetalHostStatus::default();
    // Every field named once: the pattern has no `..`, so a new field cannot be left out of the
    // diff unnoticed.
    macro_rules! differing {
        ($($field:ident),*) => {
            let BareMetalHostStatus { $($field),* } = old;
            $(
                if *$field != new.$field {
                    a.$field = $field.clone();
                    b.$field = new.$field.clone();
                }
            )*
        };
    }
    differing!(
        operational_status,
        error_type,
        last_updated,
        hardware_profile,
        hardware,
        provisioning,
        good_credentials,
        tried_credentials,
        error_message,
        powered_on,
        operation_history,
        error_count,
        provisioning_fail_count,
        last_attempted_image,
        conditions
    );
    (a, b)
}

/// Applies the decision's writes to `host` (see [`writes`]); a status that cannot be encoded is
/// not written, as the controller would refuse it before writing anything else.
pub fn apply(host: &mut BareMetalHost, decision: &Decision) -> Applied {
    let Ok(plan) = writes(host, decision) else {
        return Applied::Unchanged;
    };
    let mut changed = false;
    for write in plan {
        changed |= match write {
            // The planned status is moved in, not copied again.
            HostWrite::Status { status, .. } => {
                let changed = host.status.as_ref() != Some(&*status);
                host.status = Some(*status);
                changed
            }
            other => other.apply_to(host),
        };
    }
    if changed {
        Applied::Changed
    } else {
        Applied::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BareMetalHostSpec, ProvisioningState};

    fn decision(host: &BareMetalHost) -> Decision {
        Decision::unchanged(host, "")
    }

    fn host() -> BareMetalHost {
        let mut h = BareMetalHost::new("h", BareMetalHostSpec::default());
        h.metadata.annotations = Some([("a".to_owned(), "1".to_owned())].into());
        h
    }

    #[test]
    fn an_empty_decision_changes_nothing() {
        let mut h = host();
        let d = decision(&h);
        assert_eq!(apply(&mut h, &d), Applied::Unchanged);
        assert_eq!(
            serde_json::to_value(&h).ok(),
            serde_json::to_value(host()).ok()
        );
    }

    #[test]
    fn the_finalizer_is_added_once_and_removed() {
        let mut h = host();
        let mut d = decision(&h);
        d.finalizer = FinalizerChange::Add;
        assert!(apply(&mut h, &d).changed());
        assert!(!apply(&mut h, &d).changed());
        assert_eq!(
            h.metadata.finalizers.as_deref(),
            Some(&[HOST_FINALIZER.to_owned()][..])
        );
        d.finalizer = FinalizerChange::Remove;
        assert!(apply(&mut h, &d).changed());
        assert_eq!(h.metadata.finalizers.as_deref(), Some(&[][..]));
    }

    #[test]
    fn a_changed_status_and_removed_annotation_are_written() {
        let mut h = host();
        let mut d = decision(&h);
        d.status.provisioning.state = ProvisioningState::Registering;
        d.status_changed = true;
        d.remove_annotations = vec!["a".into(), "missing".into()];
        assert!(apply(&mut h, &d).changed());
        assert_eq!(
            h.status.as_ref().map(|s| s.provisioning.state),
            Some(ProvisioningState::Registering)
        );
        assert!(
            h.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.is_empty())
        );
    }

    #[test]
    fn the_plan_adds_the_finalizer_at_the_version_read_then_annotations_then_status() {
        let mut h = host();
        h.metadata.resource_version = Some("7".into());
        h.status = Some(Default::default());
        if let Some(s) = h.status.as_mut() {
            s.error_type = Some(crate::api::ErrorType::Registration);
        }
        let mut d = decision(&h);
        d.finalizer = FinalizerChange::Add;
        d.remove_annotations = vec!["a".into()];
        d.status.error_type = None;
        d.status.provisioning.state = ProvisioningState::Registering;
        d.status_changed = true;
        let plan = writes(&h, &d).unwrap();
        let kinds: Vec<&str> = plan.iter().map(HostWrite::what).collect();
        assert_eq!(kinds, ["finalizer", "annotations", "status"]);
        assert_eq!(
            plan[0].patch(),
            serde_json::json!({"metadata": {"finalizers": [HOST_FINALIZER], "resourceVersion": "7"}})
        );
        assert_eq!(
            plan[1].patch(),
            serde_json::json!({"metadata": {"annotations": {"a": null}}})
        );
        let status = plan[2].patch();
        assert_eq!(
            status.pointer("/status/provisioning/state"),
            Some(&serde_json::json!("registering"))
        );
        // The cleared error type is removed on the server, not left behind.
        assert_eq!(
            status.pointer("/status/errorType"),
            Some(&serde_json::Value::Null)
        );
    }

    #[test]
    fn the_status_patch_is_the_diff_of_the_whole_statuses() {
        let mut h = host();
        let old = BareMetalHostStatus {
            hardware: Some(Default::default()),
            error_message: "boom".into(),
            error_count: 2,
            ..Default::default()
        };
        h.status = Some(old.clone());
        let mut d = decision(&h);
        d.status.error_message.clear();
        d.status.provisioning.state = ProvisioningState::Inspecting;
        d.status_changed = true;
        let full = merge_diff(
            &serde_json::to_value(&old).unwrap(),
            &serde_json::to_value(&d.status).unwrap(),
        )
        .map(|patch| serde_json::json!({"status": patch}));
        let plan = writes(&h, &d).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(Some(plan[0].patch()), full);
        // The hardware and the error count did not change: no entry for them.
        assert_eq!(plan[0].patch().pointer("/status/hardware"), None);
        assert_eq!(plan[0].patch().pointer("/status/errorCount"), None);
    }

    #[test]
    fn an_unchanged_status_and_a_present_finalizer_plan_no_writes() {
        let mut h = host();
        h.metadata.finalizers = Some(vec![HOST_FINALIZER.to_owned()]);
        h.status = Some(Default::default());
        let mut d = decision(&h);
        d.finalizer = FinalizerChange::Add;
        d.status_changed = true;
        assert_eq!(writes(&h, &d).unwrap(), Vec::new());
    }

    #[test]
    fn removing_the_finalizer_keeps_other_controllers_finalizers() {
        let mut h = host();
        h.metadata.finalizers = Some(vec!["other.io/keep".into(), HOST_FINALIZER.to_owned()]);
        let mut d = decision(&h);
        d.finalizer = FinalizerChange::Remove;
        let plan = writes(&h, &d).unwrap();
        assert_eq!(
            plan,
            [HostWrite::RemoveFinalizer {
                remaining: vec!["other.io/keep".into()]
            }]
        );
        assert!(apply(&mut h, &d).changed());
        assert_eq!(
            h.metadata.finalizers.as_deref(),
            Some(&["other.io/keep".to_owned()][..])
        );
    }
}
