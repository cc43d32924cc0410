//! Simulated time: instants, the timing table of a machine, and the shell-side clock.

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::{Duration, Instant};

/// A simulated instant: nanoseconds since the world started. Monotonic, totally ordered, `Copy`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(u64);

impl SimTime {
    /// The instant the world starts.
    pub const ZERO: SimTime = SimTime(0);
    /// An instant later than any reachable one (used for open-ended windows).
    pub const NEVER: SimTime = SimTime(u64::MAX);

    /// An instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> Self {
        SimTime(nanos)
    }

    /// An instant `d` after the start (saturating).
    pub fn from_duration(d: Duration) -> Self {
        SimTime(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// An instant `secs` seconds after the start.
    pub const fn from_secs(secs: u64) -> Self {
        SimTime(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the start.
    pub const fn since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`SimTime::NEVER`].
    pub fn saturating_add(self, d: Duration) -> SimTime {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        SimTime(self.0.saturating_add(add))
    }
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for SimTime {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == SimTime::NEVER {
            return f.write_str("never");
        }
        write!(
            f,
            "{}.{:03}s",
            self.0 / 1_000_000_000,
            (self.0 / 1_000_000) % 1000
        )
    }
}

/// How long a machine's transitions take, already multiplied by the world's time scale.
///
/// `Timing::nominal()` gives durations of a real server; `scaled(0.01)` makes each take 1 % of that.
/// `jitter` is the relative spread (0.2 = ±20 %) drawn from the host's seeded stream.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timing {
    /// Off → On: power-on self test until the firmware picks a boot source.
    pub power_on: Duration,
    /// Hard power-off (ForceOff, power cycle's off half, IPMI power down).
    pub force_off: Duration,
    /// Operating-system shutdown on an ACPI request (GracefulShutdown, IPMI soft).
    pub graceful_shutdown: Duration,
    /// Warm reset (ForceRestart, IPMI hard reset) until the firmware picks a boot source again.
    pub reset: Duration,
    /// Relative jitter applied to every duration above (0.0 ..= 1.0).
    pub jitter: f64,
}

impl Timing {
    /// Durations of a typical physical server, unscaled.
    pub fn nominal() -> Self {
        Timing {
            power_on: Duration::from_secs(4),
            force_off: Duration::from_millis(500),
            graceful_shutdown: Duration::from_secs(8),
            reset: Duration::from_secs(3),
            jitter: 0.2,
        }
    }

    /// Every transition instantaneous (useful for unit tests of boot logic).
    pub fn instant() -> Self {
        Timing {
            power_on: Duration::ZERO,
            force_off: Duration::ZERO,
            graceful_shutdown: Duration::ZERO,
            reset: Duration::ZERO,
            jitter: 0.0,
        }
    }

    /// Multiplies every duration by `scale` (e.g. 0.01 runs a 4 s power-on in 40 ms).
    /// Negative or non-finite scales count as zero.
    pub fn scaled(self, scale: f64) -> Self {
        let s = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        Timing {
            power_on: self.power_on.mul_f64(s),
            force_off: self.force_off.mul_f64(s),
            graceful_shutdown: self.graceful_shutdown.mul_f64(s),
            reset: self.reset.mul_f64(s),
            jitter: self.jitter,
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::nominal()
    }
}

/// The shell's clock: maps wall-clock time since start to [`SimTime`] one to one.
///
/// This is the only type that reads the wall clock. In wire mode simulated durations are compressed by
/// [`Timing::scaled`] and fault windows are written in simulated time, so a `SimTime` difference can be
/// slept on directly. Pure code never holds a `SimClock`; it receives `now`.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start: Instant,
}

impl SimClock {
    /// A clock whose zero is `start`.
    pub fn starting_at(start: Instant) -> Self {
        SimClock { start }
    }

    /// A clock whose zero is the moment of the call.
    pub fn start_now() -> Self {
        SimClock {
            start: Instant::now(),
        }
    }

    /// The simulated instant corresponding to the wall-clock instant `at`.
    pub fn at(&self, at: Instant) -> SimTime {
        SimTime::from_duration(at.saturating_duration_since(self.start))
    }

    /// The current simulated instant.
    pub fn now(&self) -> SimTime {
        self.at(Instant::now())
    }

    /// The wall-clock instant corresponding to `t` (for sleeping until a deadline).
    pub fn wall(&self, t: SimTime) -> Instant {
        self.start + t.since_start()
    }
}

pub use metal_core::duration::{DurationParseError, format_duration, parse_duration};

/// Serde adapter for `Duration` fields written as human strings (`with = "crate::machine::time::human"`).
pub mod human {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `d` as a human string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Reads a human string or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom),
            Raw::Text(t) => super::parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}
