//! Provisioning-slot bookkeeping for the capacity gate, as the controller keeps it: slots held by
//! hosts whose status says so, plus reservations made by decisions not yet visible in a status.
//! The union's size is kept incrementally, so a lookup costs O(log n) however large the fleet.

use std::collections::BTreeSet;

use metal_core::statemachine::WaitingLine;

/// Slot holders by host index, and the hosts delayed for want of one.
#[derive(Debug, Default, Clone)]
pub struct SlotBook {
    reserved: BTreeSet<usize>,
    status: BTreeSet<usize>,
    in_use: usize,
    /// Delayed hosts, woken one per released slot.
    pub line: WaitingLine<usize>,
}

impl SlotBook {
    /// Hosts holding a slot (reserved or by status).
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// True when `idx` holds a slot either way.
    pub fn holds(&self, idx: usize) -> bool {
        self.reserved.contains(&idx) || self.status.contains(&idx)
    }

    fn change(&mut self, idx: usize, set: impl FnOnce(&mut Self) -> bool) {
        let before = self.holds(idx);
        set(self);
        let after = self.holds(idx);
        if before && !after {
            self.in_use -= 1;
        } else if after && !before {
            self.in_use += 1;
        }
    }

    /// Reserves (`true`) or releases a decision's slot for `idx`.
    pub fn reserve(&mut self, idx: usize, on: bool) {
        self.change(idx, |s| {
            if on {
                s.reserved.insert(idx)
            } else {
                s.reserved.remove(&idx)
            }
        });
    }

    /// Records whether `idx`'s status holds a slot.
    pub fn by_status(&mut self, idx: usize, on: bool) {
        self.change(idx, |s| {
            if on {
                s.status.insert(idx)
            } else {
                s.status.remove(&idx)
            }
        });
    }

    /// Drops every reservation and the waiting line (an operator restart loses them).
    pub fn clear_reservations(&mut self) {
        self.line = WaitingLine::default();
        let reserved = std::mem::take(&mut self.reserved);
        self.in_use -= reserved.iter().filter(|i| !self.status.contains(i)).count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_counts_once_whether_reserved_by_status_or_both() {
        let mut b = SlotBook::default();
        b.reserve(1, true);
        b.by_status(1, true);
        b.by_status(2, true);
        assert_eq!(b.in_use(), 2);
        b.reserve(1, false);
        assert_eq!(b.in_use(), 2);
        b.reserve(3, true);
        b.clear_reservations();
        assert_eq!(b.in_use(), 2);
        b.by_status(1, false);
        assert!(!b.holds(1));
        assert_eq!(b.in_use(), 1);
    }
}
