//! Bounded waits. Every wait has a deadline; when it passes, the error names what was awaited and
//! what was last seen instead. No test sleeps a fixed time and then asserts: it waits for the
//! condition here.
//!
//! ```ignore
//! // async, in tokio time (so a paused clock is honoured):
//! let state = Wait::new("host-0 to be available", Duration::from_secs(20))
//!     .until(|| match api.state("host-0") {
//!         Some(s) if s == "available" => Check::Done(s),
//!         other => Check::Pending(format!("{other:?}")),
//!     })
//!     .await?;
//! ```

use std::future::Future;
use std::time::Duration;

/// How often a condition is polled unless [`Wait::every`] says otherwise.
pub const POLL: Duration = Duration::from_millis(20);

/// How often [`eventually`] and [`eventually_ok`] poll: they look at other processes (HTTP, the
/// Kubernetes API), which are not asked more often than this.
pub const PROCESS_POLL: Duration = Duration::from_millis(200);

/// One look at a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    /// Reached, with the value observed.
    Done(T),
    /// Not yet; what was seen instead.
    Pending(String),
}

impl Check<()> {
    /// `Done(())` when `reached`, else `Pending(seen())`.
    pub fn when(reached: bool, seen: impl FnOnce() -> String) -> Check<()> {
        if reached {
            Check::Done(())
        } else {
            Check::Pending(seen())
        }
    }
}

impl From<bool> for Check<()> {
    /// For conditions with nothing better to report than that they do not hold yet.
    fn from(reached: bool) -> Check<()> {
        Check::when(reached, || "not yet".to_owned())
    }
}

/// A wait that ran out of time.
#[derive(Clone, PartialEq, Eq)]
pub struct TimedOut {
    /// What was awaited.
    pub what: String,
    /// How long it was awaited.
    pub after: Duration,
    /// What the last look saw.
    pub last: String,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:.1?} waiting for {}; last seen: {}",
            self.after, self.what, self.last
        )
    }
}

// `unwrap`/`expect` print Debug: make that the readable message too.
impl std::fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for TimedOut {}

/// A bounded wait: what is awaited, for how long, how often it is looked at.
#[derive(Debug, Clone)]
pub struct Wait {
    what: String,
    timeout: Duration,
    poll: Duration,
}

impl Wait {
    /// A wait for `what` (said in the timeout message) of at most `timeout`, polling every
    /// [`POLL`].
    pub fn new(what: impl Into<String>, timeout: Duration) -> Wait {
        Wait {
            what: what.into(),
            timeout,
            poll: POLL,
        }
    }

    /// Polls every `poll` instead.
    pub fn every(mut self, poll: Duration) -> Wait {
        self.poll = poll;
        self
    }

    fn timed_out(&self, after: Duration, last: String) -> TimedOut {
        TimedOut {
            what: self.what.clone(),
            after,
            last,
        }
    }

    /// Looks (synchronously) until [`Check::Done`], sleeping in tokio time between looks.
    pub async fn until<T>(self, mut look: impl FnMut() -> Check<T>) -> Result<T, TimedOut> {
        self.until_async(|| std::future::ready(look())).await
    }

    /// Looks (synchronously) until `look` returns `Some`, sleeping in tokio time between looks
    /// (for conditions with nothing to report while they do not hold).
    pub async fn until_some<T>(self, mut look: impl FnMut() -> Option<T>) -> Result<T, TimedOut> {
        self.until(|| match look() {
            Some(v) => Check::Done(v),
            None => Check::Pending("not yet".to_owned()),
        })
        .await
    }

    /// Looks (asynchronously) until [`Check::Done`], sleeping in tokio time between looks.
    pub async fn until_async<T, F, Fut>(self, mut look: F) -> Result<T, TimedOut>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Check<T>>,
    {
        let start = tokio::time::Instant::now();
        loop {
            let last = match look().await {
                Check::Done(v) => return Ok(v),
                Check::Pending(seen) => seen,
            };
            if start.elapsed() >= self.timeout {
                return Err(self.timed_out(start.elapsed(), last));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Like [`Wait::until_async`], but an `Err` from `look` ends the wait at once (a broken
    /// stack does not get better by waiting).
    pub async fn until_ok<T, F, Fut>(self, mut look: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Check<T>>>,
    {
        let start = tokio::time::Instant::now();
        loop {
            let last = match look().await? {
                Check::Done(v) => return Ok(v),
                Check::Pending(seen) => seen,
            };
            if start.elapsed() >= self.timeout {
                return Err(self.timed_out(start.elapsed(), last).into());
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Looks until [`Check::Done`], blocking the thread between looks (for code outside a tokio
    /// runtime, and for `Drop`).
    pub fn blocking<T>(self, mut look: impl FnMut() -> Check<T>) -> Result<T, TimedOut> {
        let start = std::time::Instant::now();
        loop {
            let last = match look() {
                Check::Done(v) => return Ok(v),
                Check::Pending(seen) => seen,
            };
            if start.elapsed() >= self.timeout {
                return Err(self.timed_out(start.elapsed(), last));
            }
            std::thread::sleep(self.poll);
        }
    }
}

/// Polls `look` every [`PROCESS_POLL`] until it returns [`Check::Done`] or `timeout` passes. An
/// `Err` from `look` ends the wait at once.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, look: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    Wait::new(what, timeout)
        .every(PROCESS_POLL)
        .until_ok(look)
        .await
}

/// Like [`eventually`], but a transient `Err` from `look` counts as "not yet" (for endpoints that
/// are still starting up).
pub async fn eventually_ok<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut look: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    Wait::new(what, timeout)
        .every(PROCESS_POLL)
        .until_async(|| {
            let fut = look();
            async move {
                match fut.await {
                    Ok(check) => check,
                    Err(e) => Check::Pending(format!("error: {e:#}")),
                }
            }
        })
        .await
        .map_err(anyhow::Error::from)
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

    #[tokio::test]
    async fn an_error_ends_the_wait_at_once_but_not_under_eventually_ok() {
        let err = eventually(Duration::from_secs(60), "a broken look", || async {
            anyhow::bail!("broken");
            #[allow(unreachable_code)]
            Ok(Check::<()>::Done(()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "broken");
        let mut n = 0;
        let v = eventually_ok(Duration::from_secs(5), "a second look", || {
            n += 1;
            let seen = n;
            async move {
                if seen < 2 {
                    anyhow::bail!("starting");
                }
                Ok(Check::Done(seen))
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_async_wait_runs_in_tokio_time() {
        let err = Wait::new("the clock", Duration::from_secs(60))
            .until(|| Check::<()>::Pending("never".into()))
            .await
            .unwrap_err();
        assert!(err.after >= Duration::from_secs(60), "{err}");
        assert_eq!(err.last, "never");
    }

    #[tokio::test(start_paused = true)]
    async fn until_some_returns_the_first_value() {
        let mut n = 0;
        let v = Wait::new("a third look", Duration::from_secs(1))
            .until_some(|| {
                n += 1;
                (n == 3).then_some(n)
            })
            .await;
        assert_eq!(v, Ok(3));
        let err = Wait::new("nothing", Duration::from_secs(1))
            .until_some(|| None::<()>)
            .await
            .unwrap_err();
        assert_eq!(err.last, "not yet");
    }

    #[test]
    fn a_blocking_wait_reports_like_an_async_one() {
        let mut looks = 0;
        let err = Wait::new("a flag", Duration::from_millis(50))
            .every(Duration::from_millis(5))
            .blocking(|| {
                looks += 1;
                Check::<()>::from(false)
            })
            .unwrap_err();
        assert!(looks > 1);
        let text = format!("{err:?}");
        assert!(
            text.contains("waiting for a flag; last seen: not yet"),
            "{text}"
        );
        let got = Wait::new("a flag", Duration::from_millis(50))
            .blocking(|| Check::when(true, || unreachable!()));
        assert_eq!(got, Ok(()));
    }
}
