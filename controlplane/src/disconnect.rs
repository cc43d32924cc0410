//! The watch-disconnect switch (simulator-only, not part of the Kubernetes API): cutting ends
//! every open watch stream at once, as an API server restart or a load balancer dropping
//! long-lived connections would; for a window after the cut, new watches are refused with 503 so
//! clients must back off, retry and re-list. Flipped by `POST /_sim/disconnect-watches`
//! (`?refuseSeconds=N`) and `DELETE /_sim/disconnect-watches`, or
//! [`crate::state::State::disconnect_watches`].

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The longest refusal window one request may ask for.
pub const MAX_REFUSE_SECONDS: u64 = 3600;

/// The switch: a cut counter that open watches listen to, and the end of the refusal window.
pub struct WatchCuts {
    cuts: watch::Sender<u64>,
    refuse_until: Mutex<Option<DateTime<Utc>>>,
}

impl Default for WatchCuts {
    fn default() -> Self {
        WatchCuts {
            cuts: watch::Sender::new(0),
            refuse_until: Mutex::new(None),
        }
    }
}

impl WatchCuts {
    /// What a watch listens to: it ends when the value changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.cuts.subscribe()
    }

    /// Cuts every open watch; new watches are refused until `refuse_until` (if given). Returns
    /// how many watch streams were open.
    pub fn cut(&self, refuse_until: Option<DateTime<Utc>>) -> usize {
        if let Ok(mut r) = self.refuse_until.lock() {
            *r = refuse_until;
        }
        let open = self.cuts.receiver_count();
        self.cuts.send_modify(|n| *n = n.wrapping_add(1));
        open
    }

    /// How many watch streams are open now.
    pub fn open(&self) -> usize {
        self.cuts.receiver_count()
    }

    /// Ends the refusal window early.
    pub fn resume(&self) {
        if let Ok(mut r) = self.refuse_until.lock() {
            *r = None;
        }
    }

    /// Whether a watch starting at `now` must be refused.
    pub fn refusing(&self, now: DateTime<Utc>) -> bool {
        self.refuse_until
            .lock()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|until| now < until)
    }

    /// How many times watches were cut.
    pub fn count(&self) -> u64 {
        *self.cuts.borrow()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn a_cut_wakes_every_listener_and_refuses_only_inside_the_window() {
        let cuts = WatchCuts::default();
        let mut a = cuts.subscribe();
        let b = cuts.subscribe();
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        assert!(!cuts.refusing(t0));
        assert_eq!(cuts.cut(Some(t0 + TimeDelta::seconds(5))), 2);
        assert!(a.has_changed().unwrap());
        assert!(b.has_changed().unwrap());
        a.mark_unchanged();
        assert!(!a.has_changed().unwrap());
        assert!(cuts.refusing(t0 + TimeDelta::seconds(4)));
        assert!(!cuts.refusing(t0 + TimeDelta::seconds(5)));
        cuts.resume();
        assert!(!cuts.refusing(t0));
        assert_eq!(cuts.count(), 1);
    }
}
