//! The heartbeat-loss switch: while a host is silenced, its agent (any agent that boots on it
//! during the window too) sends no heartbeats; the command server keeps answering, as a real IPA
//! whose heartbeats are lost on the way would. Shared between the launcher's sessions and
//! whoever flips it (the control API, the scenario runner).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::machine::SimTime;

/// One silenced host: until when (`None`: until cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Silence {
    /// End of the window in simulated time, or `None` for "until cleared".
    pub until: Option<SimTime>,
}

/// Which hosts' agents do not heartbeat (cheap to clone: every clone is the same switch).
#[derive(Debug, Clone, Default)]
pub struct HeartbeatSwitch {
    hosts: Arc<Mutex<BTreeMap<String, Silence>>>,
}

impl HeartbeatSwitch {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Silence>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Silences `host`'s agent until `until` (or until cleared); replaces an earlier window.
    pub fn silence(&self, host: &str, until: Option<SimTime>) {
        self.lock().insert(host.to_string(), Silence { until });
    }

    /// Lets `host`'s agent heartbeat again; whether it was silenced.
    pub fn clear(&self, host: &str) -> bool {
        self.lock().remove(host).is_some()
    }

    /// Whether `host`'s agent must skip a heartbeat at `now` (an expired window is forgotten).
    pub fn is_silent(&self, host: &str, now: SimTime) -> bool {
        let mut hosts = self.lock();
        match hosts.get(host).map(|s| s.until) {
            None => false,
            Some(Some(until)) if until <= now => {
                hosts.remove(host);
                false
            }
            Some(_) => true,
        }
    }

    /// The silenced hosts and their windows.
    pub fn silenced(&self) -> BTreeMap<String, Silence> {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_window_silences_only_its_host_and_ends_on_time() {
        let s = HeartbeatSwitch::default();
        let t0 = SimTime::from_duration(Duration::from_secs(10));
        s.silence("a", Some(t0.saturating_add(Duration::from_secs(5))));
        assert!(s.is_silent("a", t0));
        assert!(!s.is_silent("b", t0));
        assert!(s.is_silent("a", t0.saturating_add(Duration::from_secs(4))));
        assert!(!s.is_silent("a", t0.saturating_add(Duration::from_secs(5))));
        assert!(s.silenced().is_empty());
    }

    #[test]
    fn an_open_window_lasts_until_cleared() {
        let s = HeartbeatSwitch::default();
        s.silence("a", None);
        assert!(s.is_silent("a", SimTime::from_duration(Duration::from_secs(86_400))));
        assert!(s.clear("a"));
        assert!(!s.clear("a"));
        assert!(!s.is_silent("a", SimTime::from_duration(Duration::ZERO)));
    }
}
