//! Provisioning-slot accounting for the capacity gate.
//!
//! The reflector cache lags behind our own status writes, so a burst of hosts could all see a
//! free slot. Slots taken by decisions are therefore reserved here at once and counted together
//! with the hosts the cache already shows in a slot-holding state.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::api::BareMetalHost;
use crate::statemachine::{CapacityView, SlotChange, holds_provisioning_slot};

/// `namespace/name` of a host.
pub type HostKey = String;

/// Slot reservations shared by all reconciles.
#[derive(Debug, Default)]
pub struct Slots {
    reserved: Mutex<BTreeSet<HostKey>>,
}

impl Slots {
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
        // The host's own (fresh) status is the truth about its slot: a reservation left by a
        // write that failed must not hold a slot forever.
        if !holds_provisioning_slot(host) {
            reserved.remove(&key);
        }
        let mut holders = reserved.clone();
        for other in hosts {
            if holds_provisioning_slot(other) {
                holders.insert(host_key(other));
            }
        }
        let view = CapacityView {
            in_use: u32::try_from(holders.len()).unwrap_or(u32::MAX),
            limit,
            holds_slot: holders.contains(&key),
        };
        let decision = decide(view);
        Self::change(&mut reserved, &key, slot_of(&decision));
        decision
    }

    fn change(reserved: &mut BTreeSet<HostKey>, key: &str, change: SlotChange) {
        match change {
            SlotChange::Keep => {}
            SlotChange::Take => {
                reserved.insert(key.to_owned());
            }
            SlotChange::Release => {
                reserved.remove(key);
            }
        }
    }

    /// Applies a decision's slot change.
    pub fn apply(&self, key: &str, change: SlotChange) {
        if let Ok(mut reserved) = self.reserved.lock() {
            Self::change(&mut reserved, key, change);
        }
    }

    /// Forgets a reservation the cache now reflects (or a host that is gone).
    pub fn forget(&self, key: &str) {
        if let Ok(mut reserved) = self.reserved.lock() {
            reserved.remove(key);
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
