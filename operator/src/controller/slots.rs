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
    /// The capacity view for `key`, counting `hosts` (the cache) and our reservations.
    pub fn view<'a>(
        &self,
        key: &str,
        hosts: impl IntoIterator<Item = &'a BareMetalHost>,
        limit: u32,
    ) -> CapacityView {
        let reserved = self.reserved.lock().map(|r| r.clone()).unwrap_or_default();
        let mut holders = reserved;
        for host in hosts {
            if holds_provisioning_slot(host) {
                holders.insert(host_key(host));
            }
        }
        CapacityView {
            in_use: u32::try_from(holders.len()).unwrap_or(u32::MAX),
            limit,
            holds_slot: holders.contains(key),
        }
    }

    /// Applies a decision's slot change.
    pub fn apply(&self, key: &str, change: SlotChange) {
        let Ok(mut reserved) = self.reserved.lock() else {
            return;
        };
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
