//! The line of hosts waiting for a provisioning slot.
//!
//! The capacity gate ([`super::capacity`]) holds a host back as `delayed` and asks for a look
//! again in one to two minutes, as upstream does. With only that, a slot freed now stays idle
//! until some delayed host's timer fires. The line lets the shell wake the longest-waiting host
//! as soon as a decision releases a slot: one wake per released slot, first come first served,
//! and a woken host that finds the slot taken after all keeps its place. The timer stays as the
//! fallback, so a missed wake only costs the upstream delay.
//!
//! One rule for every mode: the controller sends the woken host to its reconcile queue, the
//! engine schedules its reconcile at the current virtual time.

use std::collections::BTreeMap;

use super::{Decision, SlotChange};
use crate::api::OperationalStatus;

#[derive(Clone, Copy, Debug)]
struct Place {
    /// Order of arrival; kept when a woken host is delayed again.
    seq: u64,
    /// Woken and not yet decided again: not offered a second released slot meanwhile.
    woken: bool,
}

/// Hosts delayed by the capacity gate, in order of arrival.
#[derive(Clone, Debug)]
pub struct WaitingLine<K> {
    next_seq: u64,
    /// The hosts not woken yet, by arrival.
    line: BTreeMap<u64, K>,
    places: BTreeMap<K, Place>,
}

impl<K> Default for WaitingLine<K> {
    fn default() -> Self {
        Self {
            next_seq: 0,
            line: BTreeMap::new(),
            places: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> WaitingLine<K> {
    /// Hosts in the line, woken or not.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// True when no host waits.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Takes `decision` for host `key` into account; returns the host to wake when the decision
    /// released a slot and someone waits for one.
    pub fn after(&mut self, key: &K, decision: &Decision) -> Option<K> {
        if decision.status.operational_status == OperationalStatus::Delayed {
            self.wait(key);
        } else {
            self.leave(key);
        }
        match decision.slot {
            SlotChange::Release => self.wake(),
            SlotChange::Keep | SlotChange::Take => None,
        }
    }

    /// `key` waits (again): a newcomer joins at the back, a woken host takes its old place.
    pub fn wait(&mut self, key: &K) {
        match self.places.get_mut(key) {
            Some(place) if place.woken => {
                place.woken = false;
                self.line.insert(place.seq, key.clone());
            }
            Some(_) => {}
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.places.insert(key.clone(), Place { seq, woken: false });
                self.line.insert(seq, key.clone());
            }
        }
    }

    /// `key` no longer waits (it got its slot, left the gated states, or is gone).
    pub fn leave(&mut self, key: &K) {
        if let Some(place) = self.places.remove(key) {
            self.line.remove(&place.seq);
        }
    }

    /// Host `key` is gone: it leaves the line, and a slot it `held` wakes the next waiter.
    pub fn gone(&mut self, key: &K, held: bool) -> Option<K> {
        self.leave(key);
        if held { self.wake() } else { None }
    }

    /// A slot was released: the longest-waiting host not already woken, marked woken.
    pub fn wake(&mut self) -> Option<K> {
        let (_, key) = self.line.pop_first()?;
        if let Some(place) = self.places.get_mut(&key) {
            place.woken = true;
        }
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BareMetalHost, BareMetalHostStatus};

    fn decision(delayed: bool, slot: SlotChange) -> Decision {
        let host = BareMetalHost {
            status: Some(BareMetalHostStatus {
                operational_status: if delayed {
                    OperationalStatus::Delayed
                } else {
                    OperationalStatus::Ok
                },
                ..Default::default()
            }),
            ..BareMetalHost::new("h", Default::default())
        };
        let mut d = Decision::unchanged(&host, "test");
        d.slot = slot;
        d
    }

    #[test]
    fn a_released_slot_wakes_the_longest_waiting_host_once() {
        let mut line = WaitingLine::default();
        assert_eq!(line.after(&"a", &decision(true, SlotChange::Keep)), None);
        assert_eq!(line.after(&"b", &decision(true, SlotChange::Keep)), None);
        // Delayed again while waiting: no change of place.
        assert_eq!(line.after(&"a", &decision(true, SlotChange::Keep)), None);
        assert_eq!(
            line.after(&"x", &decision(false, SlotChange::Release)),
            Some("a")
        );
        // "a" was woken: the next release goes to "b", not to "a" again.
        assert_eq!(
            line.after(&"y", &decision(false, SlotChange::Release)),
            Some("b")
        );
        assert_eq!(
            line.after(&"z", &decision(false, SlotChange::Release)),
            None
        );
        assert_eq!(line.len(), 2);
    }

    #[test]
    fn a_woken_host_that_finds_no_slot_keeps_its_place() {
        let mut line = WaitingLine::default();
        for key in ["a", "b", "c"] {
            line.after(&key, &decision(true, SlotChange::Keep));
        }
        assert_eq!(line.wake(), Some("a"));
        // A newcomer took the slot first: "a" is delayed again, ahead of "b" and "c".
        line.after(&"a", &decision(true, SlotChange::Keep));
        assert_eq!(line.wake(), Some("a"));
        // Now "a" gets its slot and leaves the line.
        line.after(&"a", &decision(false, SlotChange::Take));
        assert_eq!(line.wake(), Some("b"));
        assert_eq!(line.wake(), Some("c"));
        assert_eq!(line.wake(), None);
    }

    #[test]
    fn a_host_that_leaves_is_never_woken() {
        let mut line = WaitingLine::default();
        line.after(&"a", &decision(true, SlotChange::Keep));
        line.after(&"b", &decision(true, SlotChange::Keep));
        line.leave(&"a");
        assert_eq!(line.wake(), Some("b"));
        assert!(line.wake().is_none());
        line.leave(&"b");
        assert!(line.is_empty());
    }
}
