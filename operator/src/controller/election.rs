//! Leader election through a `coordination.k8s.io/v1` Lease, so two replicas never act at once.
//!
//! [`next_step`] is the pure rule (lease + identity + how long this replica has seen that lease
//! unchanged → what to do); [`LeaseLock`] carries it out with optimistic concurrency on
//! `resourceVersion`; [`run`] loops and publishes leadership on a watch channel that the controller
//! obeys.
//!
//! As client-go's elector does, no replica compares its wall clock with another's: a follower takes
//! a lease over only once it has seen the same record, unchanged, for the lease's duration on its
//! own monotonic clock (so a replica whose clock runs ahead cannot take a healthy lease), and a
//! leader stops acting once the renew deadline has passed since the *start* of its last successful
//! renewal (the lease was written at some point after that start, never before).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tracing::{info, warn};

use super::Clock;

/// Lease timings and names, as client-go's leader election knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionSettings {
    pub lease_name: String,
    pub lease_namespace: String,
    /// Who we are (usually the pod name); written as `holderIdentity`.
    pub identity: String,
    /// How long a lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long stops acting (must be < lease_duration).
    pub renew_deadline: Duration,
    /// Pause between attempts, for leaders and followers alike.
    pub retry_period: Duration,
}

/// The parts of a Lease the decision reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: Option<String>,
    pub renew_time: Option<DateTime<Utc>>,
    pub lease_duration: Option<Duration>,
}

/// What a candidate should do with the lease it just read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// No lease exists: create it naming us.
    Create,
    /// We hold it: renew.
    Renew,
    /// It is free or expired: take it over.
    TakeOver,
    /// Someone else holds a lease this replica has not yet seen unchanged for its duration;
    /// `remaining` is how much longer it must stay unchanged before a take-over.
    Wait { holder: String, remaining: Duration },
}

/// The pure election rule. `unchanged_for`: how long this replica has observed `lease` with the
/// same content, on its own monotonic clock (zero when it just changed or was just read first).
pub fn next_step(
    lease: Option<&LeaseRecord>,
    identity: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> Step {
    let Some(lease) = lease else {
        return Step::Create;
    };
    let holder = match lease.holder.as_deref() {
        None | Some("") => return Step::TakeOver,
        Some(h) if h == identity => return Step::Renew,
        Some(h) => h,
    };
    if lease.renew_time.is_none() {
        return Step::TakeOver;
    }
    let duration = lease.lease_duration.unwrap_or(default_duration);
    if unchanged_for >= duration {
        Step::TakeOver
    } else {
        Step::Wait {
            holder: holder.to_owned(),
            remaining: duration - unchanged_for,
        }
    }
}

/// This replica's monotonic clock: time since a fixed origin. Never compared across replicas.
pub type LocalClock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// The monotonic clock of this process.
pub fn monotonic() -> LocalClock {
    let origin = std::time::Instant::now();
    Arc::new(move || origin.elapsed())
}

/// The lease record last read or written, and when (local clock) it was first seen so.
#[derive(Clone, Debug)]
struct Observed {
    record: LeaseRecord,
    since: Duration,
}

/// Why a lease round trip failed.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    #[error("reading lease {namespace}/{name} failed")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing lease {namespace}/{name} failed")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Result of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the lease now.
    Held,
    /// Someone else does (or won a race with us).
    Lost { holder: Option<String> },
}

/// Reads and writes one Lease object, remembering what it last saw of it.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    settings: ElectionSettings,
    local: LocalClock,
    observed: Arc<Mutex<Option<Observed>>>,
}

fn to_micro(t: DateTime<Utc>) -> Option<MicroTime> {
    Timestamp::from_microsecond(t.timestamp_micros())
        .ok()
        .map(MicroTime)
}

fn from_micro(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

fn record_of(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.as_ref();
    LeaseRecord {
        holder: spec.and_then(|s| s.holder_identity.clone()),
        renew_time: spec
            .and_then(|s| s.renew_time.as_ref())
            .and_then(from_micro),
        lease_duration: spec
            .and_then(|s| s.lease_duration_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl LeaseLock {
    pub fn new(client: kube::Client, settings: ElectionSettings) -> Self {
        let api = Api::namespaced(client, &settings.lease_namespace);
        Self {
            api,
            settings,
            local: monotonic(),
            observed: Arc::default(),
        }
    }

    /// The same lock reading `local` as its monotonic clock (tests move it by hand).
    pub fn with_local_clock(mut self, local: LocalClock) -> Self {
        self.local = local;
        self
    }

    /// Notes `record` as read at local time `now`; returns how long it has been unchanged.
    fn observe(&self, record: Option<&LeaseRecord>, now: Duration) -> Duration {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match (record, observed.as_ref()) {
            (None, _) => {
                *observed = None;
                Duration::ZERO
            }
            (Some(r), Some(o)) if o.record == *r => now.saturating_sub(o.since),
            (Some(r), _) => {
                *observed = Some(Observed {
                    record: r.clone(),
                    since: now,
                });
                Duration::ZERO
            }
        }
    }

    /// Notes the record this replica just wrote.
    fn wrote(&self, record: LeaseRecord, now: Duration) {
        *self.observed.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Observed { record, since: now });
    }

    pub fn settings(&self) -> &ElectionSettings {
        &self.settings
    }

    fn read_error(&self, source: kube::Error) -> ElectionError {
        ElectionError::Read {
            namespace: self.settings.lease_namespace.clone(),
            name: self.settings.lease_name.clone(),
            source,
        }
    }

    fn write_error(&self, source: kube::Error) -> ElectionError {
        ElectionError::Write {
            namespace: self.settings.lease_namespace.clone(),
            name: self.settings.lease_name.clone(),
            source,
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.settings.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One round: read the lease, decide, and write it if the decision says so. `now` is only
    /// written (as `renewTime`/`acquireTime`, for people to read); expiry is judged on the local
    /// clock, read when the round starts.
    pub async fn try_acquire_or_renew(&self, now: DateTime<Utc>) -> Result<Attempt, ElectionError> {
        let started = (self.local)();
        let current = self
            .api
            .get_opt(&self.settings.lease_name)
            .await
            .map_err(|e| self.read_error(e))?;
        let record = current.as_ref().map(record_of);
        let unchanged_for = self.observe(record.as_ref(), started);
        let step = next_step(
            record.as_ref(),
            &self.settings.identity,
            unchanged_for,
            self.settings.lease_duration,
        );
        let now_micro = to_micro(now);
        match (step, current) {
            (Step::Wait { holder, .. }, _) => Ok(Attempt::Lost {
                holder: Some(holder),
            }),
            (Step::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.settings.lease_name.clone()),
                        namespace: Some(self.settings.lease_namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.settings.identity.clone()),
                        lease_duration_seconds: Some(self.duration_seconds()),
                        acquire_time: now_micro.clone(),
                        renew_time: now_micro,
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(written) => {
                        self.wrote(record_of(&written), started);
                        Ok(Attempt::Held)
                    }
                    Err(e) if is_conflict(&e) => Ok(Attempt::Lost { holder: None }),
                    Err(e) => Err(self.write_error(e)),
                }
            }
            (step, Some(mut lease)) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                if step == Step::TakeOver {
                    let previous = spec.holder_identity.take();
                    if previous.as_deref().is_some_and(|p| !p.is_empty()) {
                        spec.lease_transitions =
                            Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
                    }
                    spec.acquire_time = now_micro.clone();
                }
                spec.holder_identity = Some(self.settings.identity.clone());
                spec.lease_duration_seconds = Some(self.duration_seconds());
                spec.renew_time = now_micro;
                // `replace` sends our resourceVersion: a concurrent writer makes this a 409.
                match self
                    .api
                    .replace(&self.settings.lease_name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(written) => {
                        self.wrote(record_of(&written), started);
                        Ok(Attempt::Held)
                    }
                    Err(e) if is_conflict(&e) => Ok(Attempt::Lost { holder: None }),
                    Err(e) => Err(self.write_error(e)),
                }
            }
        }
    }

    /// Gives the lease up (clears the holder) if we still hold it, so a successor need not wait.
    pub async fn release(&self) -> Result<(), ElectionError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.settings.lease_name)
            .await
            .map_err(|e| self.read_error(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        match self
            .api
            .replace(&self.settings.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(self.write_error(e)),
        }
    }
}

/// A read-only view of whether this replica may act.
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// Keeps the sender of [`Leadership::always`] alive so the receiver never reports closed.
    _always: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// Leadership that is always held (leader election disabled).
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        Self {
            rx,
            _always: Some(std::sync::Arc::new(tx)),
        }
    }

    /// A pair for tests and for [`run`].
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self { rx, _always: None })
    }

    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once leadership is held (or never, if the elector stopped).
    pub async fn acquired(&mut self) {
        if self.rx.wait_for(|held| *held).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once leadership is lost (immediately if not held).
    pub async fn lost(&mut self) {
        let _ = self.rx.wait_for(|held| !*held).await;
    }
}

/// Runs the election until `shutdown` resolves, publishing leadership on `tx`; releases the lease
/// on the way out. Each round is bounded by the renew deadline; a leader whose renewals keep failing
/// steps down once `renew_deadline` has passed since its last successful renewal.
pub async fn run(
    lock: LeaseLock,
    clock: impl Clock,
    tx: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let settings = lock.settings().clone();
    // When the last successful round *started*: the lease was written after that, so a leader
    // counting its deadline from there never acts past what the others can see.
    let mut last_renewal: Option<tokio::time::Instant> = None;
    let rounds = async {
        loop {
            step_down_if_stale(&tx, &mut last_renewal, settings.renew_deadline);
            let started = tokio::time::Instant::now();
            // A leader's round may not outlast its deadline; a follower's gets the whole deadline.
            let budget = match last_renewal {
                Some(at) => (at + settings.renew_deadline).saturating_duration_since(started),
                None => settings.renew_deadline,
            };
            let attempt = tokio::time::timeout(budget.max(Duration::from_millis(10)), async {
                lock.try_acquire_or_renew(clock.now()).await
            })
            .await;
            match attempt {
                Ok(Ok(Attempt::Held)) => {
                    if !*tx.borrow() {
                        info!(identity = %settings.identity, lease = %settings.lease_name, "acquired leadership");
                    }
                    last_renewal = Some(started);
                    tx.send_replace(true);
                }
                Ok(Ok(Attempt::Lost { holder })) => {
                    if *tx.borrow() {
                        warn!(identity = %settings.identity, holder = ?holder, "lost leadership");
                    }
                    last_renewal = None;
                    tx.send_replace(false);
                }
                Ok(Err(error)) => {
                    warn!(error = %error, cause = ?std::error::Error::source(&error).map(ToString::to_string), "lease round trip failed");
                    step_down_if_stale(&tx, &mut last_renewal, settings.renew_deadline);
                }
                Err(_elapsed) => {
                    warn!(lease = %settings.lease_name, "lease round trip timed out");
                    step_down_if_stale(&tx, &mut last_renewal, settings.renew_deadline);
                }
            }
            tokio::time::sleep(settings.retry_period).await;
        }
    };
    tokio::select! {
        () = rounds => {}
        () = shutdown => {}
    }
    let was_leader = tx.send_replace(false);
    if was_leader && let Err(error) = lock.release().await {
        warn!(error = %error, "releasing the lease failed");
    }
}

fn step_down_if_stale(
    tx: &watch::Sender<bool>,
    last_renewal: &mut Option<tokio::time::Instant>,
    deadline: Duration,
) {
    let stale = last_renewal.is_none_or(|at| at.elapsed() >= deadline);
    if stale && *tx.borrow() {
        warn!("renew deadline passed, stepping down");
        tx.send_replace(false);
        *last_renewal = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn lease(holder: Option<&str>, renewed: Option<i64>, duration: Option<u64>) -> LeaseRecord {
        LeaseRecord {
            holder: holder.map(str::to_owned),
            renew_time: renewed.map(t),
            lease_duration: duration.map(Duration::from_secs),
        }
    }

    #[test]
    fn election_table() {
        let d = Duration::from_secs(15);
        let secs = Duration::from_secs;
        let wait = |remaining: u64| Step::Wait {
            holder: "other".into(),
            remaining: secs(remaining),
        };
        let cases: Vec<(&str, Option<LeaseRecord>, u64, Step)> = vec![
            ("no lease is created", None, 0, Step::Create),
            (
                "own lease is renewed even when long unchanged",
                Some(lease(Some("me"), Some(0), Some(15))),
                100,
                Step::Renew,
            ),
            (
                "own live lease is renewed",
                Some(lease(Some("me"), Some(0), Some(15))),
                1,
                Step::Renew,
            ),
            (
                "a released lease is taken over",
                Some(lease(None, Some(0), Some(15))),
                0,
                Step::TakeOver,
            ),
            (
                "an empty holder is taken over",
                Some(lease(Some(""), Some(0), Some(15))),
                0,
                Step::TakeOver,
            ),
            (
                "a lease never renewed is taken over",
                Some(lease(Some("other"), None, Some(15))),
                0,
                Step::TakeOver,
            ),
            (
                "another holder's lease just seen is waited on",
                Some(lease(Some("other"), Some(0), Some(15))),
                0,
                wait(15),
            ),
            (
                "another holder's lease unchanged for less than its duration is waited on",
                Some(lease(Some("other"), Some(0), Some(15))),
                14,
                wait(1),
            ),
            (
                "another holder's lease unchanged for its duration is taken over",
                Some(lease(Some("other"), Some(0), Some(15))),
                15,
                Step::TakeOver,
            ),
            (
                "the lease's own duration wins over ours",
                Some(lease(Some("other"), Some(0), Some(60))),
                30,
                wait(30),
            ),
            (
                "our duration applies when the lease has none",
                Some(lease(Some("other"), Some(0), None)),
                16,
                Step::TakeOver,
            ),
        ];
        for (name, lease, unchanged, want) in cases {
            assert_eq!(
                next_step(lease.as_ref(), "me", secs(unchanged), d),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn a_renewal_time_far_in_the_past_does_not_expire_a_lease_just_seen() {
        // The holder's clock runs 30 s behind ours: its fresh renewal reads as 30 s old. Wall
        // clocks are never compared, so the lease stands until we see it unchanged for 15 s.
        let stale_looking = lease(Some("other"), Some(-30), Some(15));
        assert!(matches!(
            next_step(
                Some(&stale_looking),
                "me",
                Duration::ZERO,
                Duration::from_secs(15)
            ),
            Step::Wait { .. }
        ));
    }

    #[test]
    fn micro_time_round_trips_through_chrono() {
        let now = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        assert_eq!(from_micro(&to_micro(now).unwrap()), Some(now));
    }

    #[tokio::test]
    async fn leadership_always_is_held_and_never_lost() {
        let mut l = Leadership::always();
        assert!(l.is_leader());
        l.acquired().await;
        let lost = tokio::time::timeout(Duration::from_millis(20), l.lost()).await;
        assert!(lost.is_err());
    }
}
