//! Bounded waiting: every wait has a deadline and reports what it last saw when it expires.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::bail;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(200);

/// One look at a condition.
#[derive(Debug)]
pub enum Check<T> {
    /// Reached, with the value observed.
    Done(T),
    /// Not yet; what was seen instead.
    Pending(String),
}

/// Polls `look` until it returns [`Check::Done`] or `timeout` passes. An `Err` from `look` ends the
/// wait at once (a broken stack does not get better by waiting).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut look: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    let start = Instant::now();
    loop {
        let last = match look().await? {
            Check::Done(v) => return Ok(v),
            Check::Pending(seen) => seen,
        };
        if start.elapsed() >= timeout {
            bail!(
                "timed out after {:.0?} waiting for {what}; last seen: {last}",
                start.elapsed()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`eventually`], but a transient `Err` from `look` counts as "not yet" (for endpoints that are
/// still starting up).
pub async fn eventually_ok<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut look: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    eventually(timeout, what, || {
        let fut = look();
        async move {
            Ok(match fut.await {
                Ok(check) => check,
                Err(e) => Check::Pending(format!("error: {e:#}")),
            })
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unmet_condition_times_out_with_what_was_last_seen() {
        let err = eventually(Duration::from_millis(300), "the impossible", || async {
            Ok(Check::<()>::Pending("still nothing".into()))
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the impossible") && err.contains("still nothing"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_met_condition_returns_its_value() {
        let mut n = 0;
        let v = eventually(Duration::from_secs(5), "three looks", || {
            n += 1;
            let seen = n;
            async move {
                Ok(if seen >= 3 {
                    Check::Done(seen)
                } else {
                    Check::Pending(seen.to_string())
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
    }
}
