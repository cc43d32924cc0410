//! Faults at the BMC facade: a pure decision from the fault settings, `now` and a seeded RNG.
//!
//! The Redfish and IPMI shells ask [`FaultSet::verdict`] (usually through `Host::fault_verdict`)
//! before handling a request or a power action and obey the answer:
//!
//! | kind            | possible verdicts (checked in this order)                               |
//! |-----------------|--------------------------------------------------------------------------|
//! | `HttpRequest`   | `Drop` (unreachable window) · `Fail5xx` (rate) · `Delay` (latency) · `Proceed` |
//! | `IpmiPacket`    | `Drop` (unreachable window or packet loss) · `Delay` (latency) · `Proceed` |
//! | `PowerAction`   | `AckNoEffect` (rate) · `Stick` (rate) · `Proceed`                        |
//! | `FirmwareUpdate`| `FailTask` (rate) · `Proceed`                                            |
//!
//! `Drop` means: close the connection / send nothing. `AckNoEffect`: answer success, change nothing.
//! `Stick`: perform the action but hold the machine in its transition (`Machine::set_stuck`) until
//! the fault is cleared. `FailTask`: start the firmware update task, then end it in `Exception`
//! without installing anything. Besides verdicts, `degraded` parts (a drive at `Warning` or
//! `Critical`) are reported by the BMC and rolled up into the system's health. Random draws happen only for rates strictly between 0 and 1, so a fault-free
//! host consumes no randomness and runs stay comparable.

use std::time::Duration;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::machine::SimTime;
use crate::machine::time::human;

/// What a shell is about to do, for which a verdict is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// An HTTP request reaching a Redfish BMC.
    HttpRequest,
    /// An IPMI datagram reaching an IPMI BMC.
    IpmiPacket,
    /// A power action (reset, chassis control) about to be applied to the machine.
    PowerAction,
    /// A firmware update task about to start.
    FirmwareUpdate,
}

/// The facade's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Handle normally.
    Proceed,
    /// Wait this long (wall clock, already in simulated time) and then handle normally.
    Delay(Duration),
    /// Do not answer at all (unreachable, packet lost).
    Drop,
    /// Answer with this HTTP 5xx status.
    Fail5xx(u16),
    /// Answer success without changing the machine.
    AckNoEffect,
    /// Apply the action but leave the machine stuck in its transition.
    Stick,
    /// Run the task, then end it in `Exception` without effect.
    FailTask,
}

/// A part's health as a BMC reports it (Redfish `Status.Health`), worst last.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum Health {
    /// Normal.
    #[default]
    OK,
    /// Needs attention.
    Warning,
    /// Needs immediate attention.
    Critical,
}

impl Health {
    /// The Redfish spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::OK => "OK",
            Health::Warning => "Warning",
            Health::Critical => "Critical",
        }
    }

    /// The health of a whole from its parts' healths: the worst of them (`OK` for none).
    pub fn rollup(parts: impl IntoIterator<Item = Health>) -> Health {
        parts.into_iter().max().unwrap_or(Health::OK)
    }
}

/// The kind of part a health fault degrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    /// A drive, by its index in the hardware profile (0 = first).
    Drive,
}

/// A part reported degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Degraded {
    /// Kind of part.
    pub part: PartKind,
    /// Which one (0-based, in hardware profile order).
    pub index: usize,
    /// Its health (`Warning` or `Critical`).
    pub health: Health,
}

/// A half-open window of simulated time `[from, until)`; `until` absent means forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Start, as a duration since the world started (`30s`, `1.5s`).
    #[serde(with = "human")]
    pub from: Duration,
    /// End (exclusive); absent = never ends.
    #[serde(default, with = "human_opt", skip_serializing_if = "Option::is_none")]
    pub until: Option<Duration>,
}

impl Window {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: SimTime) -> bool {
        let t = now.since_start();
        t >= self.from && self.until.is_none_or(|u| t < u)
    }
}

/// Uniform added latency between `min` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Smallest added delay.
    #[serde(with = "human")]
    pub min: Duration,
    /// Largest added delay (at least `min`).
    #[serde(with = "human")]
    pub max: Duration,
}

/// A host's fault settings. The default is no fault at all.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSet {
    /// Windows during which the BMC does not answer at all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<Window>,
    /// Fraction (0..=1) of HTTP requests answered with `http_5xx_status`.
    pub http_5xx_rate: f64,
    /// The status used for injected HTTP failures (500..=599; default 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_5xx_status: Option<u16>,
    /// Latency added to every request or packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Fraction (0..=1) of IPMI datagrams dropped.
    pub ipmi_packet_loss: f64,
    /// Fraction (0..=1) of power actions acknowledged without effect.
    pub power_ack_no_effect_rate: f64,
    /// Fraction (0..=1) of power actions whose transition sticks.
    pub power_stick_rate: f64,
    /// Fraction (0..=1) of firmware update tasks that end in `Exception`.
    pub firmware_update_fail_rate: f64,
    /// Parts the BMC reports degraded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<Degraded>,
}

/// A fault setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// A rate outside 0..=1 (or not a number).
    #[error("fault {field} must be between 0 and 1, got {value}")]
    RateOutOfRange {
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: f64,
    },
    /// An HTTP status outside 500..=599.
    #[error("fault http_5xx_status must be within 500..=599, got {0}")]
    StatusNotServerError(u16),
    /// `latency.max < latency.min`.
    #[error("fault latency max ({max:?}) is below min ({min:?})")]
    LatencyInverted {
        /// min.
        min: Duration,
        /// max.
        max: Duration,
    },
    /// A window that ends before it starts.
    #[error("fault window ends ({until:?}) before it starts ({from:?})")]
    WindowInverted {
        /// from.
        from: Duration,
        /// until.
        until: Duration,
    },
}

impl FaultSet {
    /// No fault.
    pub fn none() -> Self {
        FaultSet::default()
    }

    /// Whether any fault is set.
    pub fn is_empty(&self) -> bool {
        *self == FaultSet::default()
    }

    /// Checks ranges; fleet files and the control API call this before accepting a set.
    pub fn validate(&self) -> Result<(), FaultError> {
        for (field, value) in [
            ("http_5xx_rate", self.http_5xx_rate),
            ("ipmi_packet_loss", self.ipmi_packet_loss),
            ("power_ack_no_effect_rate", self.power_ack_no_effect_rate),
            ("power_stick_rate", self.power_stick_rate),
            ("firmware_update_fail_rate", self.firmware_update_fail_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultError::RateOutOfRange { field, value });
            }
        }
        if let Some(s) = self.http_5xx_status
            && !(500..=599).contains(&s)
        {
            return Err(FaultError::StatusNotServerError(s));
        }
        if let Some(l) = self.latency
            && l.max < l.min
        {
            return Err(FaultError::LatencyInverted {
                min: l.min,
                max: l.max,
            });
        }
        if let Some(w) = self
            .unreachable
            .iter()
            .find(|w| w.until.is_some_and(|u| u < w.from))
        {
            let until = w.until.unwrap_or_default();
            return Err(FaultError::WindowInverted {
                from: w.from,
                until,
            });
        }
        Ok(())
    }

    /// Overlays `other` on `self`: every field `other` sets (non-default) replaces ours; windows add up.
    pub fn merge(&mut self, other: &FaultSet) {
        self.unreachable.extend(other.unreachable.iter().copied());
        if other.http_5xx_rate > 0.0 {
            self.http_5xx_rate = other.http_5xx_rate;
        }
        if other.http_5xx_status.is_some() {
            self.http_5xx_status = other.http_5xx_status;
        }
        if other.latency.is_some() {
            self.latency = other.latency;
        }
        if other.ipmi_packet_loss > 0.0 {
            self.ipmi_packet_loss = other.ipmi_packet_loss;
        }
        if other.power_ack_no_effect_rate > 0.0 {
            self.power_ack_no_effect_rate = other.power_ack_no_effect_rate;
        }
        if other.power_stick_rate > 0.0 {
            self.power_stick_rate = other.power_stick_rate;
        }
        if other.firmware_update_fail_rate > 0.0 {
            self.firmware_update_fail_rate = other.firmware_update_fail_rate;
        }
        self.degraded.extend(other.degraded.iter().copied());
    }

    /// The health reported for part `index` of kind `part` (`OK` unless degraded; the worst when
    /// listed twice).
    pub fn health_of(&self, part: PartKind, index: usize) -> Health {
        Health::rollup(
            self.degraded
                .iter()
                .filter(|d| d.part == part && d.index == index)
                .map(|d| d.health),
        )
    }

    /// The health of a machine with `drives` drives as its BMC rolls it up: the worst of its
    /// parts (entries naming a part the machine does not have are ignored).
    pub fn machine_health(&self, drives: usize) -> Health {
        Health::rollup(
            self.degraded
                .iter()
                .filter(|d| match d.part {
                    PartKind::Drive => d.index < drives,
                })
                .map(|d| d.health),
        )
    }

    /// Whether the BMC is inside an unreachable window at `now`.
    pub fn unreachable_at(&self, now: SimTime) -> bool {
        self.unreachable.iter().any(|w| w.contains(now))
    }

    /// Decides what happens to one request, packet or power action at `now`.
    pub fn verdict<R: Rng + ?Sized>(&self, kind: FaultKind, now: SimTime, rng: &mut R) -> Verdict {
        match kind {
            FaultKind::HttpRequest => {
                if self.unreachable_at(now) {
                    return Verdict::Drop;
                }
                if chance(rng, self.http_5xx_rate) {
                    return Verdict::Fail5xx(self.http_5xx_status.unwrap_or(503));
                }
                self.delay(rng)
            }
            FaultKind::IpmiPacket => {
                if self.unreachable_at(now) || chance(rng, self.ipmi_packet_loss) {
                    return Verdict::Drop;
                }
                self.delay(rng)
            }
            FaultKind::PowerAction => {
                if chance(rng, self.power_ack_no_effect_rate) {
                    return Verdict::AckNoEffect;
                }
                if chance(rng, self.power_stick_rate) {
                    return Verdict::Stick;
                }
                Verdict::Proceed
            }
            FaultKind::FirmwareUpdate => {
                if chance(rng, self.firmware_update_fail_rate) {
                    Verdict::FailTask
                } else {
                    Verdict::Proceed
                }
            }
        }
    }

    fn delay<R: Rng + ?Sized>(&self, rng: &mut R) -> Verdict {
        match self.latency {
            Some(l) if l.max > l.min => Verdict::Delay(rng.random_range(l.min..=l.max)),
            Some(l) if !l.min.is_zero() => Verdict::Delay(l.min),
            _ => Verdict::Proceed,
        }
    }
}

/// True with probability `p`; draws only when `0 < p < 1`.
fn chance<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    if p <= 0.0 || p.is_nan() {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random_bool(p)
    }
}

mod human_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::machine::time::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "crate::machine::time::human")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn no_fault_always_proceeds() {
        let f = FaultSet::none();
        let mut r = rng();
        for kind in [
            FaultKind::HttpRequest,
            FaultKind::IpmiPacket,
            FaultKind::PowerAction,
            FaultKind::FirmwareUpdate,
        ] {
            assert_eq!(
                f.verdict(kind, SimTime::from_secs(5), &mut r),
                Verdict::Proceed
            );
        }
    }

    #[test]
    fn unreachable_window_drops_only_inside_the_window() {
        let f = FaultSet {
            unreachable: vec![Window {
                from: Duration::from_secs(10),
                until: Some(Duration::from_secs(20)),
            }],
            ..FaultSet::none()
        };
        let mut r = rng();
        assert_eq!(
            f.verdict(FaultKind::HttpRequest, SimTime::from_secs(9), &mut r),
            Verdict::Proceed
        );
        assert_eq!(
            f.verdict(FaultKind::HttpRequest, SimTime::from_secs(10), &mut r),
            Verdict::Drop
        );
        assert_eq!(
            f.verdict(FaultKind::IpmiPacket, SimTime::from_secs(19), &mut r),
            Verdict::Drop
        );
        assert_eq!(
            f.verdict(FaultKind::HttpRequest, SimTime::from_secs(20), &mut r),
            Verdict::Proceed
        );
    }

    #[test]
    fn http_5xx_rate_fails_about_that_fraction_with_the_chosen_status() {
        let f = FaultSet {
            http_5xx_rate: 0.3,
            http_5xx_status: Some(500),
            ..FaultSet::none()
        };
        let mut r = rng();
        let fails = (0..2000)
            .filter(|_| {
                f.verdict(FaultKind::HttpRequest, SimTime::ZERO, &mut r) == Verdict::Fail5xx(500)
            })
            .count();
        assert!((500..700).contains(&fails), "{fails} of 2000");
    }

    #[test]
    fn latency_stays_within_bounds_and_is_reproducible_for_a_seed() {
        let f = FaultSet {
            latency: Some(Latency {
                min: Duration::from_millis(10),
                max: Duration::from_millis(50),
            }),
            ..FaultSet::none()
        };
        let draw = || {
            let mut r = rng();
            (0..50)
                .map(|_| f.verdict(FaultKind::IpmiPacket, SimTime::ZERO, &mut r))
                .collect::<Vec<_>>()
        };
        let a = draw();
        assert_eq!(a, draw());
        for v in a {
            let Verdict::Delay(d) = v else {
                panic!("expected a delay, got {v:?}")
            };
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(50));
        }
    }

    #[test]
    fn certain_power_faults_ack_without_effect_before_sticking() {
        let f = FaultSet {
            power_ack_no_effect_rate: 1.0,
            power_stick_rate: 1.0,
            ..FaultSet::none()
        };
        assert_eq!(
            f.verdict(FaultKind::PowerAction, SimTime::ZERO, &mut rng()),
            Verdict::AckNoEffect
        );
        let f = FaultSet {
            power_stick_rate: 1.0,
            ..FaultSet::none()
        };
        assert_eq!(
            f.verdict(FaultKind::PowerAction, SimTime::ZERO, &mut rng()),
            Verdict::Stick
        );
    }

    #[test]
    fn out_of_range_settings_are_rejected() {
        let f = FaultSet {
            ipmi_packet_loss: 1.5,
            ..FaultSet::none()
        };
        assert!(matches!(
            f.validate(),
            Err(FaultError::RateOutOfRange {
                field: "ipmi_packet_loss",
                ..
            })
        ));
        let f = FaultSet {
            http_5xx_status: Some(404),
            ..FaultSet::none()
        };
        assert_eq!(f.validate(), Err(FaultError::StatusNotServerError(404)));
    }

    #[test]
    fn fault_sets_read_human_durations_from_yaml() {
        let f: FaultSet = serde_yaml::from_str(
            "unreachable: [{from: 30s, until: 1m}]\nlatency: {min: 5ms, max: 20ms}\nhttp_5xx_rate: 0.1\n",
        )
        .unwrap();
        assert_eq!(f.unreachable[0].until, Some(Duration::from_secs(60)));
        assert_eq!(f.latency.unwrap().max, Duration::from_millis(20));
        assert!(f.validate().is_ok());
    }

    #[test]
    fn a_firmware_update_fault_fails_tasks_and_draws_only_between_zero_and_one() {
        let always = FaultSet {
            firmware_update_fail_rate: 1.0,
            ..FaultSet::none()
        };
        let mut r = rng();
        let untouched = r.clone();
        assert_eq!(
            always.verdict(FaultKind::FirmwareUpdate, SimTime::ZERO, &mut r),
            Verdict::FailTask
        );
        assert_eq!(r, untouched, "a rate of 1 draws nothing");
        assert_eq!(
            always.verdict(FaultKind::PowerAction, SimTime::ZERO, &mut r),
            Verdict::Proceed
        );
        let bad = FaultSet {
            firmware_update_fail_rate: 1.5,
            ..FaultSet::none()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn health_rolls_up_to_the_worst_degraded_part() {
        let f: FaultSet = serde_json::from_value(serde_json::json!({
            "degraded": [
                {"part": "drive", "index": 1, "health": "Warning"},
                {"part": "drive", "index": 1, "health": "Critical"},
                {"part": "drive", "index": 2, "health": "Warning"},
            ]
        }))
        .unwrap();
        assert_eq!(f.health_of(PartKind::Drive, 0), Health::OK);
        assert_eq!(f.health_of(PartKind::Drive, 1), Health::Critical);
        assert_eq!(
            Health::rollup((0..3).map(|i| f.health_of(PartKind::Drive, i))),
            Health::Critical
        );
        assert_eq!(Health::rollup([]), Health::OK);
        assert_eq!(f.machine_health(3), Health::Critical);
        assert_eq!(
            f.machine_health(1),
            Health::OK,
            "no drive 1 or 2 on a one-drive machine"
        );
        let unknown = serde_json::from_value::<FaultSet>(serde_json::json!({
            "degraded": [{"part": "toaster", "index": 0, "health": "Warning"}]
        }));
        assert!(unknown.is_err());
    }
}
