//! Applying a [`Decision`] to the host object the way the controller's writes change it, without
//! an API server: the finalizer first, then the annotation removals, then the status.
//!
//! The controller writes the same three changes as merge patches (see `controller::reconcile`);
//! engine mode and tests use this function to get the object those patches produce.

use super::{Decision, FinalizerChange};
use crate::api::BareMetalHost;
use crate::api::annotations::HOST_FINALIZER;

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

/// Applies the decision's finalizer change, annotation removals and status to `host`.
///
/// A finalizer that is already present is not added twice; removing an absent annotation or
/// finalizer changes nothing. The status is replaced only when `status_changed` says so and the
/// new status differs, as the controller's merge-patch diff would.
pub fn apply(host: &mut BareMetalHost, decision: &Decision) -> Applied {
    let mut changed = false;
    match decision.finalizer {
        FinalizerChange::Add => {
            let finalizers = host.metadata.finalizers.get_or_insert_with(Vec::new);
            if !finalizers.iter().any(|f| f == HOST_FINALIZER) {
                finalizers.push(HOST_FINALIZER.to_owned());
                changed = true;
            }
        }
        FinalizerChange::Remove | FinalizerChange::Keep => {}
    }
    if let Some(annotations) = host.metadata.annotations.as_mut() {
        for key in &decision.remove_annotations {
            changed |= annotations.remove(key).is_some();
        }
    }
    if decision.status_changed && host.status.as_ref() != Some(&decision.status) {
        host.status = Some(decision.status.clone());
        changed = true;
    }
    if decision.finalizer == FinalizerChange::Remove
        && let Some(finalizers) = host.metadata.finalizers.as_mut()
    {
        let before = finalizers.len();
        finalizers.retain(|f| f != HOST_FINALIZER);
        changed |= finalizers.len() != before;
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
    use crate::statemachine::{Effect, SlotChange};

    fn decision(host: &BareMetalHost) -> Decision {
        Decision {
            status: host.status.clone().unwrap_or_default(),
            status_changed: false,
            effect: Effect::None,
            finalizer: FinalizerChange::Keep,
            remove_annotations: Vec::new(),
            events: Vec::new(),
            requeue_after: None,
            slot: SlotChange::Keep,
            transition: None,
            notes: Vec::new(),
            cause: String::new(),
        }
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
}
