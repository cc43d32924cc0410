//! What the host controller remembers per host between reconciles: its RNG stream, its poll
//! pacing, its BMC password (to scrub it from texts a lower layer echoed) and the versions our own
//! writes superseded. All of it is forgotten when the host is released, so a cluster whose hosts
//! come and go does not grow the operator's memory, and no password outlives its host.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::slots::{self, HostKey};
use crate::api::BareMetalHost;
use crate::statemachine::{Decision, Pacer, Settings};

/// Per-host memory of one controller term.
#[derive(Default)]
pub struct HostMemory {
    seed: u64,
    /// By uid: each host's RNG stream.
    rngs: Mutex<HashMap<String, ChaCha8Rng>>,
    /// By uid: how the host's polls are paced (see `statemachine::Pacer`).
    pacers: Mutex<HashMap<String, Pacer>>,
    /// By namespace/name: the BMC password last read.
    passwords: Mutex<HashMap<HostKey, String>>,
    /// By namespace/name: versions our own writes have superseded since the cache last caught up.
    superseded: Mutex<HashMap<HostKey, BTreeSet<String>>>,
}

/// FNV-1a: a stable 64-bit hash, so a host's RNG stream does not depend on the process.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn rng_key(host: &BareMetalHost) -> String {
    host.uid().unwrap_or_else(|| slots::host_key(host))
}

impl HostMemory {
    /// Host RNG streams are seeded from `seed` and each host's uid.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// The host's own RNG stream (give it back with [`Self::put_rng`]).
    pub fn take_rng(&self, host: &BareMetalHost) -> ChaCha8Rng {
        let key = rng_key(host);
        let existing = self.rngs.lock().ok().and_then(|mut m| m.remove(&key));
        existing.unwrap_or_else(|| ChaCha8Rng::seed_from_u64(self.seed ^ stable_hash(&key)))
    }

    pub fn put_rng(&self, host: &BareMetalHost, rng: ChaCha8Rng) {
        if let Ok(mut m) = self.rngs.lock() {
            m.insert(rng_key(host), rng);
        }
    }

    /// When to reconcile `host` again after `decision`, its polls paced.
    pub fn requeue_after(
        &self,
        host: &BareMetalHost,
        decision: &Decision,
        settings: &Settings,
    ) -> Option<Duration> {
        match self.pacers.lock() {
            Ok(mut m) => m
                .entry(rng_key(host))
                .or_default()
                .requeue_after(decision, settings),
            Err(_) => decision.requeue_after,
        }
    }

    /// Records that our write replaced version `base` with `produced`.
    pub fn note_write(&self, key: &str, base: Option<&str>, produced: Option<&str>) {
        if let (Ok(mut m), Some(base), Some(produced)) = (self.superseded.lock(), base, produced)
            && base != produced
        {
            m.entry(key.to_owned()).or_default().insert(base.to_owned());
        }
    }

    /// True when the cache still shows a version one of our own writes replaced: deciding on
    /// it would repeat work already done, so the reconcile waits for the cache to catch up.
    /// Seeing any other version means the cache caught up, and the record is dropped.
    pub fn is_stale(&self, key: &str, seen: Option<&str>) -> bool {
        let Ok(mut m) = self.superseded.lock() else {
            return false;
        };
        let stale = matches!((m.get(key), seen), (Some(old), Some(seen)) if old.contains(seen));
        if !stale {
            m.remove(key);
        }
        stale
    }

    pub fn remember_password(&self, key: &str, password: &str) {
        if let Ok(mut m) = self.passwords.lock() {
            m.insert(key.to_owned(), password.to_owned());
        }
    }

    /// Replaces the host's BMC password in `text`, in case a lower layer echoed it.
    pub fn scrub(&self, host: &BareMetalHost, text: &str) -> String {
        let key = slots::host_key(host);
        let password = self
            .passwords
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned());
        match password {
            Some(p) if p.len() >= 3 && text.contains(&p) => text.replace(&p, "<redacted>"),
            _ => text.to_owned(),
        }
    }

    /// Forgets everything about the host (it was released): stream, pacing, password, writes.
    pub fn forget(&self, host: &BareMetalHost) {
        let uid = rng_key(host);
        let key = slots::host_key(host);
        if let Ok(mut m) = self.rngs.lock() {
            m.remove(&uid);
        }
        if let Ok(mut m) = self.pacers.lock() {
            m.remove(&uid);
        }
        if let Ok(mut m) = self.passwords.lock() {
            m.remove(&key);
        }
        if let Ok(mut m) = self.superseded.lock() {
            m.remove(&key);
        }
    }

    /// How many entries are held, over all hosts.
    pub fn held(&self) -> usize {
        let n = |len: Option<usize>| len.unwrap_or(0);
        n(self.rngs.lock().ok().map(|m| m.len()))
            + n(self.pacers.lock().ok().map(|m| m.len()))
            + n(self.passwords.lock().ok().map(|m| m.len()))
            + n(self.superseded.lock().ok().map(|m| m.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, uid: &str) -> BareMetalHost {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": name, "namespace": "lab", "uid": uid},
            "spec": {}
        }))
        .unwrap()
    }

    /// A released host leaves nothing behind: before, its password stayed in memory for the life
    /// of the process (and went on scrubbing texts of a later host of the same name).
    #[test]
    fn a_released_host_leaves_no_stream_pacing_password_or_write_record() {
        let memory = HostMemory::new(7);
        let (a, b) = (host("a", "uid-a"), host("b", "uid-b"));
        for h in [&a, &b] {
            let key = slots::host_key(h);
            let rng = memory.take_rng(h);
            memory.put_rng(h, rng);
            let _ = memory.requeue_after(h, &Decision::unchanged(h, "test"), &Settings::default());
            memory.remember_password(&key, "s3cret");
            memory.note_write(&key, Some("1"), Some("2"));
        }
        assert_eq!(memory.held(), 8);
        assert_eq!(memory.scrub(&a, "pw s3cret"), "pw <redacted>");
        memory.forget(&a);
        assert_eq!(memory.held(), 4, "only b is remembered");
        assert_eq!(memory.scrub(&a, "pw s3cret"), "pw s3cret");
        assert_eq!(memory.scrub(&b, "pw s3cret"), "pw <redacted>");
        memory.forget(&b);
        assert_eq!(memory.held(), 0);
    }

    #[test]
    fn a_host_stream_depends_on_the_seed_and_uid_only() {
        use rand::RngExt;
        let draw = |seed, uid| {
            HostMemory::new(seed)
                .take_rng(&host("x", uid))
                .random::<u64>()
        };
        assert_eq!(draw(1, "u"), draw(1, "u"));
        assert_ne!(draw(1, "u"), draw(2, "u"));
        assert_ne!(draw(1, "u"), draw(1, "v"));
    }
}
