//! The agent's life after boot, written once for both modes: negotiate the API version, look the
//! node up, post the inspection data, then heartbeat until the lifetime ends.
//!
//! [`Life`] is a pure state machine: it never reads a clock or does I/O. A driver asks it what to
//! do ([`Life::start`]), makes the call it names, and hands back the typed answer with the time
//! since the life began ([`Life::answer`]); the machine replies with the next [`Next`] — make a
//! call now, wait and then make a call, or stop. Its jitter comes from the RNG it owns, so a seed
//! gives the same schedule in both modes. The wire driver is `agent::session` (HTTP calls, tokio
//! sleeps); the engine driver is `engine::agent` (the mock's `Store`, virtual-time wake-ups).
//!
//! The schedule:
//! - **negotiate**: retried after a failure with the lookup back-off (`delay(n)` after the n-th
//!   failure) while fewer than `lookup.attempts` failures and within `lookup.budget` of the start;
//!   an Ironic too old for the agent ends the life at once;
//! - **lookup** until found: 404/409 and transport failures retried after `delay(n - 1)` (n
//!   failures), at most `lookup.attempts` lookups, none starting later than `lookup.budget` after
//!   the first; an unusable reply ends the life;
//! - **inspection** ([`InspectionMode::Auto`]): up to `inspection_attempts` posts, a 409 retried
//!   after the lookup back-off (`delay(attempt)`); any other answer (accepted, 404, failure) moves
//!   on to heartbeats at once; after the last 409 the first heartbeat waits that back-off;
//! - **heartbeats**: after an accepted beat, `heartbeat_interval` jittered ±25 %; after a 409,
//!   150–400 ms; after a refusal, a failure or a silenced beat (not sent), `heartbeat_interval`
//!   unjittered; no beat starts at or after `lifetime` (when there is one);
//! - **forced heartbeats**: when an asynchronous command finishes ([`Life::command_finished`]),
//!   the next beat comes as soon as `forced_gap` has passed since the last one, as IPA forces a
//!   heartbeat when an async command ends (at most one per its `min_heartbeat_interval`, 5 s), so
//!   the conductor learns of the result without waiting the whole interval.

use std::time::Duration;

use metal_core::duration::{per_fleet, scaled};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The wait after a heartbeat answered 409 (node locked): uniform in this range, in milliseconds.
const CONFLICT_RETRY_MS: std::ops::RangeInclusive<u64> = 150..=400;

/// Bounded retry schedule: at most `attempts` tries within `budget`, waiting `base`·2ⁿ (capped at
/// `cap`) scaled by a seeded jitter in [0.5, 1.0].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Maximum number of attempts.
    pub attempts: u32,
    /// Maximum total time.
    pub budget: Duration,
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 120,
            budget: Duration::from_secs(300),
            base: Duration::from_millis(200),
            cap: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `n + 1` (after `n` failures).
    pub fn delay(&self, n: u32, rng: &mut ChaCha8Rng) -> Duration {
        let exp = self.base.saturating_mul(1u32 << n.min(16)).min(self.cap);
        exp.mul_f64(rng.random_range(0.5..=1.0))
    }
}

/// When the agent posts its inspection data to `/v1/continue_inspection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionMode {
    /// On every boot, right after the lookup (which succeeds only once the conductor has released
    /// the node, so its state has settled); Ironic answers 404 unless the node is in
    /// `inspect wait`. The fake ramdisk cannot read the `ipa-inspection-callback-url` kernel
    /// parameter that tells a real IPA, so it asks (real Ironic logs one ERROR line for the 404).
    Auto,
    /// Never.
    Never,
}

/// How an agent leads its life (the same settings type in wire and engine mode).
#[derive(Debug, Clone, PartialEq)]
pub struct LifeSettings {
    /// Negotiation and lookup retries; the back-off also spaces inspection posts answered 409.
    pub lookup: RetryPolicy,
    /// Whether the inspection data is posted.
    pub inspection: InspectionMode,
    /// Inspection posts per boot while Ironic answers 409.
    pub inspection_attempts: u32,
    /// Mean heartbeat interval (the wait after an accepted beat is jittered ±25 %).
    pub heartbeat_interval: Duration,
    /// The shortest time between a beat and a beat forced by a finished asynchronous command
    /// (IPA's `min_heartbeat_interval`, 5 s).
    pub forced_gap: Duration,
    /// No heartbeat starts this long after the life began (`None`: heartbeat until stopped).
    pub lifetime: Option<Duration>,
}

impl Default for LifeSettings {
    /// The wire agent's: default lookup retries, inspection `Auto` (5 posts), 1.5 s heartbeats,
    /// a 6 h lifetime.
    fn default() -> Self {
        LifeSettings {
            lookup: RetryPolicy::default(),
            inspection: InspectionMode::Auto,
            inspection_attempts: 5,
            heartbeat_interval: Duration::from_millis(1500),
            forced_gap: Duration::from_millis(250),
            lifetime: Some(Duration::from_secs(6 * 3600)),
        }
    }
}

/// A real agent's intervals, which a fleet's `time_scale` compresses: heartbeats every 30 s
/// (IPA heartbeats several times per Ironic `heartbeat_timeout`), forced heartbeats at least 5 s
/// after the last one (IPA's `min_heartbeat_interval`), lookups retried from 4 s up to 60 s apart.
/// At the library's scale 0.05 they are the wire agent's defaults (1.5 s, 250 ms, 200 ms–3 s).
const REAL_HEARTBEAT: Duration = Duration::from_secs(30);
const REAL_FORCED_GAP: Duration = Duration::from_secs(5);
const REAL_LOOKUP_BASE: Duration = Duration::from_secs(4);
const REAL_LOOKUP_CAP: Duration = Duration::from_secs(60);

/// The shortest a scaled agent waits, whatever the scale: below these it would only load Ironic.
const FLOOR_HEARTBEAT: Duration = Duration::from_millis(100);
const FLOOR_LOOKUP_BASE: Duration = Duration::from_millis(20);
const FLOOR_LOOKUP_CAP: Duration = Duration::from_millis(500);

/// The heartbeat floor grows by this much per agent of the fleet, so that a thousand agents
/// heartbeat no more often in total than they did at 1.5 s each (the wire agent's interval before
/// waits followed the time scale).
const FLOOR_HEARTBEAT_PER_HOST: Duration = Duration::from_micros(1500);

impl LifeSettings {
    /// The agents of a fleet of `hosts` running at `time_scale`: heartbeats and lookup retries
    /// scaled from a real agent's, within the floors (the heartbeat floor growing with the fleet);
    /// inspection, attempts and lifetime as [`Default`].
    pub fn for_fleet(time_scale: f64, hosts: usize) -> LifeSettings {
        let base = LifeSettings::default();
        // A thousand agents retry lookups and heartbeat no more often in total than a hundred do.
        let per_host = per_fleet(FLOOR_HEARTBEAT_PER_HOST, hosts, 1);
        LifeSettings {
            lookup: RetryPolicy {
                base: scaled(
                    REAL_LOOKUP_BASE,
                    time_scale,
                    per_fleet(FLOOR_LOOKUP_BASE, hosts, 100),
                ),
                cap: scaled(REAL_LOOKUP_CAP, time_scale, FLOOR_LOOKUP_CAP.max(per_host)),
                ..base.lookup
            },
            heartbeat_interval: scaled(REAL_HEARTBEAT, time_scale, FLOOR_HEARTBEAT.max(per_host)),
            // One forced beat per finished command: no more beats in total than commands, so the
            // floor need not grow with the fleet.
            forced_gap: scaled(REAL_FORCED_GAP, time_scale, FLOOR_HEARTBEAT),
            ..base
        }
    }
}

/// A call the agent makes to Ironic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Read Ironic's API versions (`GET /`).
    Negotiate,
    /// `GET /v1/lookup?addresses=…`.
    Lookup,
    /// `POST /v1/continue_inspection`.
    Inspect,
    /// `POST /v1/heartbeat/{node}`.
    Heartbeat,
}

/// What the agent does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Make this call now.
    Now(Call),
    /// Wait this long, then make the call.
    After(Duration, Call),
    /// The life is over.
    Stop(End),
}

/// Why a life ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Ironic's API is older than the agent needs.
    Incompatible,
    /// Negotiation failed `lookup.attempts` times or past `lookup.budget`.
    Unreachable,
    /// The lookup ran out of attempts or budget, or got a reply it cannot use.
    LookupGaveUp,
    /// The lifetime ended.
    Lifetime,
    /// The driver answered a call the machine had not asked for (a driver bug).
    Misanswered,
}

/// The answer to a [`Call::Negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiation {
    /// A common version was agreed.
    Agreed,
    /// Ironic's newest version is older than the agent needs.
    TooOld,
    /// No usable answer (connection failure, no version in the reply): retried.
    Failed,
}

/// The answer to a [`Call::Lookup`] (the driver binds the agent on `Found`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupAnswer {
    /// 200 with the node and its token.
    Found,
    /// 404 or 409: not (yet) findable; retried.
    NotYet,
    /// Connection failure or an unexpected status: retried.
    Failed,
    /// A reply the agent cannot use (or a request it must not send): ends the life.
    Unusable,
}

/// The answer to a [`Call::Inspect`] (the driver binds the agent when the reply carries a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionAnswer {
    /// 202.
    Accepted,
    /// 404: the node is not being inspected.
    NotInspecting,
    /// 409: locked; posted again after a back-off.
    Conflict,
    /// Connection failure or an unexpected status.
    Failed,
}

/// The answer to a [`Call::Heartbeat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatAnswer {
    /// 2xx.
    Accepted,
    /// 409: locked; beat again soon.
    Conflict,
    /// Another status (403 bad token, 404 unknown node, …).
    Refused(u16),
    /// Connection failure.
    Failed,
    /// Not sent: the host's heartbeats are silenced (a fault).
    Silenced,
}

/// The answer to the last call, typed by call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// To [`Call::Negotiate`].
    Negotiate(Negotiation),
    /// To [`Call::Lookup`].
    Lookup(LookupAnswer),
    /// To [`Call::Inspect`].
    Inspect(InspectionAnswer),
    /// To [`Call::Heartbeat`].
    Heartbeat(HeartbeatAnswer),
}

/// Where a life is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Negotiating; `failures` so far.
    Negotiate {
        /// Failed negotiations.
        failures: u32,
    },
    /// Looking the node up since `since` (life time); `failures` so far.
    Lookup {
        /// When the first lookup was made.
        since: Duration,
        /// Lookups not found or failed.
        failures: u32,
    },
    /// Posting the inspection data; `attempt` (0-based) is the next post.
    Inspect {
        /// Posts answered 409 so far.
        attempt: u32,
    },
    /// Heartbeating.
    Heartbeat,
    /// Over.
    Over(End),
}

/// One agent's life: settings, its jitter RNG and where it is.
#[derive(Debug, Clone)]
pub struct Life {
    settings: LifeSettings,
    rng: ChaCha8Rng,
    stage: Stage,
    /// When the last heartbeat was answered (or found silenced), since the life began.
    last_beat: Option<Duration>,
}

impl Life {
    /// A life that has not started; `rng` draws every retry and heartbeat jitter.
    pub fn new(settings: LifeSettings, rng: ChaCha8Rng) -> Life {
        Life {
            settings,
            rng,
            stage: Stage::Negotiate { failures: 0 },
            last_beat: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &LifeSettings {
        &self.settings
    }

    /// Where the life is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// An asynchronous command finished at `now` (since the life began): how long from now until
    /// the heartbeat it forces, `forced_gap` after the last beat (at once if that has passed).
    /// `None` when the life is not heartbeating (nothing to force). The driver beats then if that
    /// comes before the beat it has planned; the answer to that beat plans the next as usual.
    pub fn command_finished(&self, now: Duration) -> Option<Duration> {
        if self.stage != Stage::Heartbeat {
            return None;
        }
        let due = self
            .last_beat
            .map_or(now, |last| last.saturating_add(self.settings.forced_gap));
        Some(due.saturating_sub(now))
    }

    /// The first action: negotiate now.
    pub fn start(&mut self) -> Next {
        self.stage = Stage::Negotiate { failures: 0 };
        Next::Now(Call::Negotiate)
    }

    /// The next action, given the answer to the last call and the time since the life began.
    pub fn answer(&mut self, answer: Answer, now: Duration) -> Next {
        let policy = self.settings.lookup;
        match (self.stage, answer) {
            (Stage::Over(end), _) => Next::Stop(end),
            (Stage::Negotiate { .. }, Answer::Negotiate(Negotiation::Agreed)) => {
                self.stage = Stage::Lookup {
                    since: now,
                    failures: 0,
                };
                Next::Now(Call::Lookup)
            }
            (Stage::Negotiate { .. }, Answer::Negotiate(Negotiation::TooOld)) => {
                self.end(End::Incompatible)
            }
            (Stage::Negotiate { failures }, Answer::Negotiate(Negotiation::Failed)) => {
                let failures = failures + 1;
                if failures >= policy.attempts || now > policy.budget {
                    return self.end(End::Unreachable);
                }
                self.stage = Stage::Negotiate { failures };
                Next::After(policy.delay(failures, &mut self.rng), Call::Negotiate)
            }
            (Stage::Lookup { .. }, Answer::Lookup(LookupAnswer::Found)) => {
                match self.settings.inspection {
                    InspectionMode::Auto => {
                        self.stage = Stage::Inspect { attempt: 0 };
                        Next::Now(Call::Inspect)
                    }
                    InspectionMode::Never => self.beat_after(Duration::ZERO, now),
                }
            }
            (Stage::Lookup { .. }, Answer::Lookup(LookupAnswer::Unusable)) => {
                self.end(End::LookupGaveUp)
            }
            (
                Stage::Lookup { since, failures },
                Answer::Lookup(LookupAnswer::NotYet | LookupAnswer::Failed),
            ) => {
                let failures = failures + 1;
                if failures >= policy.attempts {
                    return self.end(End::LookupGaveUp);
                }
                let wait = policy.delay(failures - 1, &mut self.rng);
                if (now + wait).saturating_sub(since) >= policy.budget {
                    return self.end(End::LookupGaveUp);
                }
                self.stage = Stage::Lookup { since, failures };
                Next::After(wait, Call::Lookup)
            }
            (Stage::Inspect { attempt }, Answer::Inspect(InspectionAnswer::Conflict)) => {
                let wait = policy.delay(attempt, &mut self.rng);
                if attempt + 1 >= self.settings.inspection_attempts {
                    return self.beat_after(wait, now);
                }
                self.stage = Stage::Inspect {
                    attempt: attempt + 1,
                };
                Next::After(wait, Call::Inspect)
            }
            (Stage::Inspect { .. }, Answer::Inspect(_)) => self.beat_after(Duration::ZERO, now),
            (Stage::Heartbeat, Answer::Heartbeat(beat)) => {
                self.last_beat = Some(now);
                let interval = self.settings.heartbeat_interval;
                let wait = match beat {
                    HeartbeatAnswer::Accepted => {
                        interval.mul_f64(self.rng.random_range(0.75..=1.25))
                    }
                    HeartbeatAnswer::Conflict => {
                        Duration::from_millis(self.rng.random_range(CONFLICT_RETRY_MS))
                    }
                    HeartbeatAnswer::Refused(_)
                    | HeartbeatAnswer::Failed
                    | HeartbeatAnswer::Silenced => interval,
                };
                self.beat_after(wait, now)
            }
            _ => self.end(End::Misanswered),
        }
    }

    fn end(&mut self, end: End) -> Next {
        self.stage = Stage::Over(end);
        Next::Stop(end)
    }

    /// Heartbeat after `wait`, unless that is past the lifetime.
    fn beat_after(&mut self, wait: Duration, now: Duration) -> Next {
        if self.settings.lifetime.is_some_and(|l| now + wait >= l) {
            return self.end(End::Lifetime);
        }
        self.stage = Stage::Heartbeat;
        if wait.is_zero() {
            Next::Now(Call::Heartbeat)
        } else {
            Next::After(wait, Call::Heartbeat)
        }
    }
}

#[cfg(test)]
#[path = "life_tests.rs"]
mod tests;
