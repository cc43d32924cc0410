//! `preparing`: the settings applied before a host becomes available — `spec.raid` (the node's
//! target RAID configuration and the clean steps that build it) and the BIOS settings its
//! HostFirmwareSettings asks for, together in one manual clean, as upstream does. Nothing is
//! recorded as applied until Ironic accepted the clean; a failed clean leaves the applied RAID
//! layout unknown, so the next attempt builds it again.

use super::backoff::jittered;
use super::draft::Draft;
use super::firmware::{self, Needed};
use super::node::{self, AVAILABLE, CLEAN_FAILED, MANAGEABLE};
use super::table::{backing_off, recover_from_clean_failure, settled_node};
use crate::api::{ErrorType, ProvisioningState as S};
use crate::bmc::BmcAddress;
use crate::provisioner::{Action, TargetRaid};
use crate::raid;

pub(crate) fn preparing<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, rng: &mut R) {
    let settings = d.input.settings;
    let Some(n) = settled_node(d, rng) else {
        return;
    };
    if node::is(n, CLEAN_FAILED) {
        if !d.error_is(ErrorType::Preparation) {
            d.fail(
                ErrorType::Preparation,
                format!("Cleaning failed: {}", node::last_error(n)),
                rng,
            );
            d.because("preparing: cleaning failed");
            return;
        }
        if backing_off(d, ErrorType::Preparation) {
            return;
        }
        // What the failed clean left of the RAID layout is unknown: build it again.
        d.status.provisioning.raid = None;
        recover_from_clean_failure(d, n, "preparing");
        return;
    }
    if node::moving(n) {
        d.poll(jittered(settings.long_delay, rng));
        d.because("preparing: waiting for the node to settle");
        return;
    }
    if !(node::is(n, MANAGEABLE) || node::is(n, AVAILABLE)) {
        d.fail(
            ErrorType::Preparation,
            format!(
                "cannot prepare: ironic node is in state '{}'",
                n.provision_state
            ),
            rng,
        );
        d.because("preparing: node in an unexpected state");
        return;
    }
    let host = d.host();
    let raid_interface = BmcAddress::parse(&host.spec.bmc.address)
        .ok()
        .and_then(|a| a.interfaces().raid)
        .unwrap_or(raid::NO_RAID);
    let plan = match raid::plan(
        raid_interface,
        host.spec.raid.as_ref(),
        d.status.provisioning.raid.as_ref(),
        host.spec.root_device_hints.is_some(),
    ) {
        Ok(plan) => plan,
        Err(problem) => {
            if backing_off(d, ErrorType::Preparation) {
                return;
            }
            d.fail(ErrorType::Preparation, problem, rng);
            d.because("preparing: RAID settings the node cannot apply");
            return;
        }
    };
    let bios = match firmware::needed(d, "preparing", rng) {
        Needed::Decided => return,
        Needed::Nothing => Vec::new(),
        Needed::Apply(apply) => firmware::clean_steps(apply),
    };
    let spec = &d.host().spec;
    if !plan.steps.is_empty() || !bios.is_empty() {
        if node::is(n, AVAILABLE) {
            d.act(Action::Manage, settings.short_delay);
            d.because("preparing: moving the node to manageable for manual cleaning");
            return;
        }
        let raid = (!plan.logical_disks.is_empty()).then(|| TargetRaid {
            interface: plan.interface.clone(),
            logical_disks: plan.logical_disks.clone(),
        });
        let mut steps = plan.steps;
        steps.extend(bios);
        d.clear_error();
        d.status.provisioning.root_device_hints = spec.root_device_hints.clone();
        d.status.provisioning.raid = spec.raid.clone();
        d.status.provisioning.firmware = spec.firmware.clone();
        d.act(
            Action::Clean { steps, raid },
            jittered(settings.long_delay, rng),
        );
        d.because("preparing: applying RAID and firmware settings by manual cleaning");
        return;
    }
    d.status.provisioning.root_device_hints = spec.root_device_hints.clone();
    d.status.provisioning.raid = spec.raid.clone();
    d.status.provisioning.firmware = spec.firmware.clone();
    d.succeed();
    let _ = d.go(S::Available, rng);
    d.because("preparing: done");
}
