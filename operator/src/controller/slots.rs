//! Provisioning-slot accounting for the capacity gate.
//!
//! The reflector cache lags behind our own status writes, so a burst of hosts could all see a
//! free slot. Slots taken by decisions are therefore reserved here at once and counted together
//! with the hosts the cache already shows in a slot-holding state.

use std::collections::BTreeSet;
use std::sync::Mutex;

use futures::channel::mpsc::UnboundedSender;

use crate::api::BareMetalHost;
use crate::statemachine::{
    CapacityView, Decision, SlotChange, WaitingLine, holds_provisioning_slot,
};

/// `namespace/name` of a host.
pub type HostKey = String;

/// Slot reservations shared by all reconciles, and the line of delayed hosts.
#[derive(Debug, Default)]
pub struct Slots {
    reserved: Mutex<BTreeSet<HostKey>>,
    /// Hosts whose decision released a slot that the cache may still show them holding.
    released: Mutex<BTreeSet<HostKey>>,
    line: Mutex<WaitingLine<HostKey>>,
    /// Where a host woken by a released slot is sent (the controller's reconcile trigger).
    wake: Option<UnboundedSender<HostKey>>,
}

impl Slots {
    /// Slots whose released slots wake the longest-waiting delayed host through `wake`.
    pub fn waking(wake: UnboundedSender<HostKey>) -> Self {
        Self {
            wake: Some(wake),
            ..Self::default()
        }
    }

    /// Moves host `key` in or out of the waiting line after `decision`, and wakes the next
    /// waiter when the decision released a slot (see [`WaitingLine`]). Called once the decision's writes are done.
    pub fn after_decision(&self, key: &str, decision: &Decision) {
        if decision.slot == SlotChange::Release
            && let Ok(mut released) = self.released.lock()
        {
            released.insert(key.to_owned());
        }
        let woken = match self.line.lock() {
            Ok(mut line) => line.after(&key.to_owned(), decision),
            Err(_) => None,
        };
        self.send_wake(woken);
    }

    /// Hosts waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.line.lock().map_or(0, |l| l.len())
    }

    /// Counts the slots held by `hosts` (the cache) plus our reservations, hands the view for
    /// `host` to `decide`, and applies the decision's slot change before anyone else can look:
    /// concurrent reconciles therefore never see the same free slot.
    pub fn decide_with<'a, D>(
        &self,
        host: &BareMetalHost,
        hosts: impl IntoIterator<Item = &'a BareMetalHost>,
        limit: u32,
        decide: impl FnOnce(CapacityView) -> D,
        slot_of: impl Fn(&D) -> SlotChange,
    ) -> D {
        let key = host_key(host);
        let mut reserved = match self.reserved.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut released = match self.released.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // The host's own (fresh) status is the truth about its slot: a reservation left by a
        // write that failed must not hold a slot forever, nor a release whose write failed
        // free one.
        if holds_provisioning_slot(host) {
            released.remove(&key);
        } else {
            reserved.remove(&key);
        }
        let mut holders = reserved.clone();
        for other in hosts {
            if holds_provisioning_slot(other) {
                let other = host_key(other);
                if !released.contains(&other) {
                    holders.insert(other);
                }
            }
        }
        let view = CapacityView {
            in_use: u32::try_from(holders.len()).unwrap_or(u32::MAX),
            limit,
            holds_slot: holders.contains(&key),
        };
        let decision = decide(view);
        Self::change(&mut reserved, &mut released, &key, slot_of(&decision));
        decision
    }

    fn change(
        reserved: &mut BTreeSet<HostKey>,
        released: &mut BTreeSet<HostKey>,
        key: &str,
        change: SlotChange,
    ) {
        match change {
            SlotChange::Keep => {}
            SlotChange::Take => {
                released.remove(key);
                reserved.insert(key.to_owned());
            }
            // Marked released only once the status saying so is written (`after_decision`):
            // until then the cache's view of the host still counts it.
            SlotChange::Release => {
                reserved.remove(key);
            }
        }
    }

    /// Applies a decision's slot change.
    pub fn apply(&self, key: &str, change: SlotChange) {
        if let (Ok(mut reserved), Ok(mut released)) = (self.reserved.lock(), self.released.lock()) {
            Self::change(&mut reserved, &mut released, key, change);
        }
    }

    /// Forgets a host that is gone: its reservation and its place in the line. A slot it
    /// held is free now, so the next waiter is woken.
    pub fn forget(&self, key: &str) {
        if let Ok(mut released) = self.released.lock() {
            released.remove(key);
        }
        let held = self
            .reserved
            .lock()
            .is_ok_and(|mut reserved| reserved.remove(key));
        let woken = match self.line.lock() {
            Ok(mut line) => line.gone(&key.to_owned(), held),
            Err(_) => None,
        };
        self.send_wake(woken);
    }

    /// Sends a woken host to the reconcile trigger.
    fn send_wake(&self, woken: Option<HostKey>) {
        if let (Some(woken), Some(wake)) = (woken, &self.wake) {
            let _ = wake.unbounded_send(woken);
        }
    }
}

/// `namespace/name`.
pub fn host_key(host: &BareMetalHost) -> HostKey {
    format!(
        "{}/{}",
        host.metadata.namespace.as_deref().unwrap_or(""),
        host.metadata.name.as_deref().unwrap_or("")
    )
}

/// The reference to the host `namespace/name` names (`None` for a malformed key).
pub fn host_ref(key: &str) -> Option<kube::runtime::reflector::ObjectRef<BareMetalHost>> {
    let (namespace, name) = key.split_once('/')?;
    Some(kube::runtime::reflector::ObjectRef::new(name).within(namespace))
}
