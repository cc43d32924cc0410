//! Detached hosts (`baremetalhost.metal3.io/detached`): the node is removed from Ironic without
//! touching the machine; opStatus `detached`, polled every 10 minutes. Removing the annotation
//! re-registers the host without a state change.

use std::collections::BTreeMap;

use super::backoff::jittered;
use super::draft::Draft;
use super::node;
use super::{EventKind, Flow};
use crate::api::annotations::{self, DetachedAnnotation};
use crate::api::{ErrorType, OperationalStatus, ProvisioningState as S};
use crate::provisioner::{Action, Observation};

/// Upstream's `checkDetachedHost`. `Flow::Stop` when detach handling decided.
pub(crate) fn check<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) -> Flow {
    if let Some(raw) = annotations.get(annotations::DETACHED) {
        let parsed = match DetachedAnnotation::parse(raw) {
            Ok(a) => a,
            Err(e) => {
                d.event(EventKind::Warning, "InvalidAnnotationValue", e.to_string());
                DetachedAnnotation::default()
            }
        };
        let state = d.state();
        let eligible = matches!(
            state,
            S::Provisioned | S::ExternallyProvisioned | S::Ready | S::Available
        );
        if state != S::Deleting && (eligible || parsed.force) {
            detach(d, parsed.force, rng);
            return Flow::Stop;
        }
    }
    if d.error_is(ErrorType::Detach) {
        d.succeed();
        d.requeue_now();
        d.because("detach: error cleared");
        return Flow::Stop;
    }
    if d.status.operational_status == OperationalStatus::Detached {
        d.status.operational_status = if d.status.error_type.is_some() {
            OperationalStatus::Error
        } else {
            OperationalStatus::Ok
        };
        d.event(
            EventKind::Normal,
            "Attached",
            "Detached annotation removed; registering the host again",
        );
        d.requeue_now();
        d.because("detach: annotation removed, re-attaching");
        return Flow::Stop;
    }
    Flow::Continue
}

fn detach<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, force: bool, rng: &mut R) {
    let settings = d.input.settings;
    match d.observation() {
        Observation::Unavailable(why) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because(format!("detach: provisioner unavailable ({why})"));
        }
        Observation::NotRegistered => {
            if d.status.operational_status != OperationalStatus::Detached {
                d.succeed();
                d.status.operational_status = OperationalStatus::Detached;
                d.event(
                    EventKind::Normal,
                    "Detached",
                    "Host detached from the provisioner",
                );
            }
            d.status.provisioning.id.clear();
            d.requeue(settings.slow_delay);
            d.because("detached");
        }
        Observation::Node(n) if node::moving(n) && !(force && node::waiting(n)) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because("detach: waiting for the node to settle");
        }
        Observation::Node(_) => {
            if d.error_is(ErrorType::Detach)
                && let Some(left) = d.backoff_left()
            {
                d.requeue(left);
                d.because("detach: waiting out the error backoff");
                return;
            }
            d.act(Action::Detach { force }, settings.short_delay);
            d.because("detach: removing the node from the provisioner");
        }
    }
}
