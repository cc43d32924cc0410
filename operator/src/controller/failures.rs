//! What every reconciler shares around its own work: the panic guard that contains a panic to
//! the one object, the count of consecutive failures per object that the error policies turn
//! into an exponential backoff, and the one error for a failed Kubernetes call on an object.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::Duration;

use futures::FutureExt;

/// A Kubernetes API call on one object that failed: what the reconciler was doing, and to which
/// object (`reading secret ns/name failed`, `writing the status of host ns/name failed`). The host,
/// claim and pool reconcilers' errors each carry it, so the wording and the source chain are one.
#[derive(Debug, thiserror::Error)]
#[error("{doing} {namespace}/{name} failed")]
pub struct KubeCallError {
    /// What was being done, e.g. `reading secret` or `writing the finalizers of claim`.
    pub doing: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The API client's error.
    #[source]
    pub source: kube::Error,
}

impl KubeCallError {
    /// `doing` on `namespace/name` failed with `source`.
    pub fn new(
        doing: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
        source: kube::Error,
    ) -> KubeCallError {
        KubeCallError {
            doing: doing.into(),
            namespace: namespace.into(),
            name: name.into(),
            source,
        }
    }
}

/// Consecutive reconcile failures per object key.
#[derive(Debug, Default)]
pub struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    /// Counts one more failure of `key` and returns the count so far (1 if the lock is poisoned).
    pub fn count(&self, key: &str) -> u32 {
        let Ok(mut m) = self.0.lock() else {
            return 1;
        };
        let n = m.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets `key`'s failures (after a success, or when the object is gone).
    pub fn forget(&self, key: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(key);
        }
    }
}

/// Runs one reconcile of the object `key` with a panic contained to it: a success forgets the
/// object's failures, an error is returned as it is, a panic becomes `panicked()`.
pub async fn contained<T, E>(
    failures: &Failures,
    key: &str,
    run: impl Future<Output = Result<T, E>>,
    panicked: impl FnOnce() -> E,
) -> Result<T, E> {
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(Ok(done)) => {
            failures.forget(key);
            Ok(done)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(panicked()),
    }
}

/// The wait after `failures` consecutive failures: `1 s * 2^(n-1)`, capped at 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exp).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_kube_call_names_what_was_done_to_which_object_and_keeps_the_cause() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 409, "reason": "Conflict", "message": "stale"
        }))
        .unwrap();
        let e = KubeCallError::new(
            "writing the status of host",
            "ns",
            "h0",
            kube::Error::Api(Box::new(status)),
        );
        assert_eq!(e.to_string(), "writing the status of host ns/h0 failed");
        let cause = std::error::Error::source(&e).expect("the API error is the source");
        assert!(cause.to_string().contains("stale"), "{cause}");
        let wrapped: super::super::ReconcileError = e.into();
        assert_eq!(
            wrapped.to_string(),
            "writing the status of host ns/h0 failed"
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(9), Duration::from_secs(256));
        assert_eq!(backoff(10), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn failures_count_per_object_and_a_success_forgets_them() {
        let f = Failures::default();
        assert_eq!(f.count("a"), 1);
        assert_eq!(f.count("a"), 2);
        assert_eq!(f.count("b"), 1);
        let ok: Result<(), ()> =
            futures::executor::block_on(contained(&f, "a", async { Ok(()) }, || ()));
        assert_eq!(ok, Ok(()));
        assert_eq!(f.count("a"), 1);
    }

    #[test]
    fn a_panic_is_contained_to_its_object() {
        let f = Failures::default();
        let r: Result<(), &str> = futures::executor::block_on(contained(
            &f,
            "a",
            async { panic!("boom") },
            || "panicked",
        ));
        assert_eq!(r, Err("panicked"));
    }
}
