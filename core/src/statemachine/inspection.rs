//! `inspecting`: hardware inspection (agent, fast or none).

use std::collections::BTreeMap;

use super::backoff::jittered;
use super::draft::Draft;
use super::node::{self, AVAILABLE, INSPECT_FAILED, MANAGEABLE};
use super::registration::inspection_disabled;
use super::table::{backing_off, settled_node};
use super::{Effect, EventKind, HardwareFetch};
use crate::api::annotations::{self, InspectAnnotation};
use crate::api::{ErrorType, HardwareDetails, InspectionMode, ProvisioningState as S};
use crate::provisioner::Action;

pub(crate) fn inspecting<R: rand::Rng + ?Sized>(
    d: &mut Draft<'_>,
    annotations: &BTreeMap<String, String>,
    rng: &mut R,
) {
    let host = d.host();
    let settings = d.input.settings;
    if inspection_disabled(host) {
        d.succeed();
        d.event(EventKind::Normal, "InspectionSkipped", "disabled by user");
        let _ = d.go(S::Preparing, rng);
        d.because("inspecting: inspection disabled");
        return;
    }
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    let fast = host.spec.inspection_mode == Some(InspectionMode::Fast);
    let poll = if fast {
        settings.short_delay
    } else {
        jittered(settings.long_delay, rng)
    };
    let refresh = annotations
        .get(annotations::INSPECT)
        .is_some_and(|v| InspectAnnotation::parse(v) == Ok(InspectAnnotation::Request));
    let retrying = d.error_is(ErrorType::Inspection);
    if node::is(n, INSPECT_FAILED) {
        if !retrying {
            d.fail(ErrorType::Inspection, node::last_error(n), rng);
            d.because("inspecting: inspection failed");
            return;
        }
        if backing_off(d, ErrorType::Inspection) {
            return;
        }
        start_inspection(d, poll, "inspecting: retrying the failed inspection");
        return;
    }
    if node::moving(n) {
        if retrying {
            d.clear_error();
        }
        d.poll(poll);
        d.because("inspecting: inspection in progress");
        return;
    }
    let settled = node::is(n, MANAGEABLE) || node::is(n, AVAILABLE);
    if !settled {
        d.fail(
            ErrorType::Inspection,
            format!(
                "cannot inspect: ironic node is in state '{}'",
                n.provision_state
            ),
            rng,
        );
        d.because("inspecting: node in an unexpected state");
        return;
    }
    if node::is(n, AVAILABLE) && (refresh || d.input.hardware == HardwareFetch::Missing) {
        d.act(Action::Manage, settings.short_delay);
        d.because("inspecting: moving the node to manageable first");
        return;
    }
    if refresh {
        start_inspection(d, poll, "inspecting: re-inspection requested");
        return;
    }
    match &d.input.hardware {
        HardwareFetch::NotFetched => {
            d.effect(Effect::FetchHardwareDetails);
            d.requeue_now();
            d.because("inspecting: checking for an inventory");
        }
        HardwareFetch::Missing => start_inspection(d, poll, "inspecting: starting inspection"),
        HardwareFetch::Unavailable(why) => {
            d.poll(jittered(settings.long_delay, rng));
            d.because(format!("inspecting: inventory unavailable ({why})"));
        }
        HardwareFetch::Found(value) => {
            match serde_json::from_value::<HardwareDetails>(value.clone()) {
                Ok(details) => {
                    d.status.hardware = Some(details.into());
                    d.effect(Effect::WriteHardwareData(value.clone()));
                    d.succeed();
                    d.event(
                        EventKind::Normal,
                        "InspectionComplete",
                        "Hardware inspection completed",
                    );
                    let _ = d.go(S::Preparing, rng);
                    d.because("inspecting: inventory received");
                }
                Err(e) => {
                    d.fail(
                        ErrorType::Inspection,
                        format!("the inspection inventory could not be read: {e}"),
                        rng,
                    );
                    d.because("inspecting: unreadable inventory");
                }
            }
        }
    }
}

fn start_inspection(d: &mut Draft<'_>, poll: std::time::Duration, cause: &str) {
    d.clear_error();
    d.remove_annotation(annotations::INSPECT);
    d.event(
        EventKind::Normal,
        "InspectionStarted",
        "Hardware inspection started",
    );
    d.act(Action::Inspect, poll);
    d.because(cause);
}
