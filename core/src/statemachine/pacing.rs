//! Poll pacing: the settings checks, the testbed's scaled settings and the [`Pacer`] that asks
//! sooner after a change and backs off while nothing happens.

use std::time::Duration;

use super::{Decision, Effect, Settings};

/// A poll or retry setting that makes no sense.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be longer than zero (got {value:?})")]
pub struct SettingsError {
    /// The setting, as its flag spells it.
    pub field: &'static str,
    /// The value given.
    pub value: Duration,
}

/// The shortest polls a testbed asks of the operator, whatever its time scale: below these the
/// operator would only spin. The first poll after a change is [`TESTBED_FIRST_POLL`].
const TESTBED_FLOORS: [Duration; 6] = [
    Duration::from_millis(200), // short
    Duration::from_millis(500), // long
    TESTBED_SPAN_FLOOR,         // steady
    Duration::from_secs(5),     // slow
    Duration::from_millis(500), // missing secret
    Duration::from_millis(500), // error backoff unit
];

/// The shortest a testbed scales a span of a scenario to (`advance`, a fault's `for`, an
/// operator's `down_for`; wire mode, `time_scale` below 1): the steady-poll floor, so a span that
/// covered a steady poll of the operator at full scale still covers one when both are scaled.
pub const TESTBED_SPAN_FLOOR: Duration = Duration::from_secs(2);

/// Hosts per step of the testbed floors ([`Settings::for_fleet`]): at 100 the 1 000-host wire
/// bench (`scripts/bench-wire.sh`) waited 81.7 s, at 250 63.2 s (one quiet run each, 2 cores).
pub const HOSTS_PER_FLOOR: usize = 250;

/// The first poll after a change in a testbed: a simulated step finishes in milliseconds.
pub const TESTBED_FIRST_POLL: Duration = Duration::from_millis(20);

impl Settings {
    /// Refuses intervals of zero (a zero poll would spin on the API servers), naming the flag.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fields = [
            ("--poll-short", self.short_delay),
            ("--poll-long", self.long_delay),
            ("--poll-steady", self.steady_delay),
            ("--poll-slow", self.slow_delay),
            ("--missing-secret-retry", self.missing_secret_delay),
            ("--error-backoff-unit", self.error_backoff_unit),
        ];
        let first = self.first_poll.map(|d| ("--poll-first", d));
        match fields.into_iter().chain(first).find(|(_, d)| d.is_zero()) {
            Some((field, value)) => Err(SettingsError { field, value }),
            None => Ok(()),
        }
    }

    /// The `metal-operator run` flags that give an operator process these settings (testbeds
    /// that start the binary: the end-to-end harness, the demo).
    pub fn to_flags(&self) -> Vec<String> {
        let flag =
            |name: &str, d: Duration| [name.to_string(), crate::duration::format_duration(d)];
        let mut flags = vec![
            flag("--poll-short", self.short_delay),
            flag("--poll-long", self.long_delay),
            flag("--poll-steady", self.steady_delay),
            flag("--poll-slow", self.slow_delay),
            flag("--missing-secret-retry", self.missing_secret_delay),
            flag("--error-backoff-unit", self.error_backoff_unit),
        ];
        if let Some(first) = self.first_poll {
            flags.push(flag("--poll-first", first));
        }
        flags.into_iter().flatten().collect()
    }

    /// The settings a testbed gives the operator for simulated machines running `scale` times
    /// as long as real ones (the fleet's `time_scale`): every interval scaled, none below the
    /// testbed floors, and polls paced from [`TESTBED_FIRST_POLL`]. `scale` must be finite and
    /// ≥ 0 (the fleet file's own check); anything else is treated as 0. For a fleet of one to
    /// [`HOSTS_PER_FLOOR`] hosts; [`Settings::for_fleet`] for more.
    pub fn for_time_scale(&self, scale: f64) -> Settings {
        self.for_fleet(scale, 1)
    }

    /// [`Settings::for_time_scale`] for a fleet of `hosts`: the floors grow with every
    /// [`HOSTS_PER_FLOOR`] hosts and polls are paced only up to that many, so a large fleet's
    /// operator does not poll its Ironic harder in total than a small one's does.
    pub fn for_fleet(&self, scale: f64, hosts: usize) -> Settings {
        use crate::duration::{per_fleet, scaled};
        let at = |d: Duration, floor: Duration| {
            scaled(d, scale, per_fleet(floor, hosts, HOSTS_PER_FLOOR))
        };
        let [short, long, steady, slow, secret, backoff] = TESTBED_FLOORS;
        Settings {
            short_delay: at(self.short_delay, short),
            long_delay: at(self.long_delay, long),
            steady_delay: at(self.steady_delay, steady),
            slow_delay: at(self.slow_delay, slow),
            missing_secret_delay: at(self.missing_secret_delay, secret),
            error_backoff_unit: at(self.error_backoff_unit, backoff),
            // Paced first polls add requests (a poll 20 ms after every change); a fleet beyond
            // one floor step polls at the scaled intervals from the start instead.
            first_poll: (hosts <= HOSTS_PER_FLOOR).then_some(TESTBED_FIRST_POLL),
            ..self.clone()
        }
    }
}

/// One host's poll pacing, kept by the controller between reconciles: the first poll of a change
/// in progress comes after [`Settings::first_poll`], each poll that finds nothing new waits twice
/// as long, up to the interval the decision asked for. A decision that acts or changes the status
/// starts again from the first poll. Without `first_poll` the decision's interval is used as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pacer {
    quiet: u32,
}

impl Pacer {
    /// When to reconcile again after `decision`.
    pub fn requeue_after(&mut self, decision: &Decision, settings: &Settings) -> Option<Duration> {
        if decision.status_changed || !matches!(decision.effect, Effect::None) {
            self.quiet = 0;
        }
        let after = decision.requeue_after?;
        let Some(first) = settings.first_poll.filter(|_| decision.poll) else {
            return Some(after);
        };
        let paced = first.saturating_mul(1u32 << self.quiet.min(20));
        self.quiet = self.quiet.saturating_add(1);
        Some(paced.min(after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BareMetalHost;
    use crate::provisioner::Action;

    fn decision(effect: Effect, status_changed: bool, poll: bool, after: u64) -> Decision {
        let host = BareMetalHost::new("h", Default::default());
        Decision {
            effect,
            status_changed,
            poll,
            requeue_after: Some(Duration::from_secs(after)),
            ..Decision::unchanged(&host, "test")
        }
    }

    #[test]
    fn without_a_first_poll_the_decision_interval_is_kept() {
        let settings = Settings::default();
        let mut pacer = Pacer::default();
        let d = decision(Effect::None, false, true, 10);
        assert_eq!(
            pacer.requeue_after(&d, &settings),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            pacer.requeue_after(&d, &settings),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn polls_start_short_double_while_quiet_and_restart_after_an_action() {
        let settings = Settings {
            first_poll: Some(Duration::from_millis(100)),
            ..Settings::default()
        };
        let mut pacer = Pacer::default();
        let acted = decision(Effect::Provisioner(Action::Inspect), true, true, 1);
        let quiet = decision(Effect::None, false, true, 1);
        let ms = Duration::from_millis;
        assert_eq!(pacer.requeue_after(&acted, &settings), Some(ms(100)));
        assert_eq!(pacer.requeue_after(&quiet, &settings), Some(ms(200)));
        assert_eq!(pacer.requeue_after(&quiet, &settings), Some(ms(400)));
        assert_eq!(pacer.requeue_after(&quiet, &settings), Some(ms(800)));
        assert_eq!(
            pacer.requeue_after(&quiet, &settings),
            Some(ms(1000)),
            "capped"
        );
        assert_eq!(pacer.requeue_after(&quiet, &settings), Some(ms(1000)));
        assert_eq!(
            pacer.requeue_after(&acted, &settings),
            Some(ms(100)),
            "restarted"
        );
        // A retry or steady check is never shortened.
        let retry = decision(Effect::None, false, false, 7);
        assert_eq!(
            pacer.requeue_after(&retry, &settings),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn a_zero_interval_is_refused_naming_its_flag() {
        let zero = Settings {
            long_delay: Duration::ZERO,
            ..Settings::default()
        };
        let e = zero.validate().unwrap_err();
        assert_eq!(e.field, "--poll-long");
        assert!(
            e.to_string()
                .contains("--poll-long must be longer than zero"),
            "{e}"
        );
        let first = Settings {
            first_poll: Some(Duration::ZERO),
            ..Settings::default()
        };
        assert_eq!(first.validate().unwrap_err().field, "--poll-first");
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn a_testbed_scales_every_interval_within_its_floors_and_paces_polls() {
        let prod = Settings::default();
        let tenth = prod.for_time_scale(0.1);
        assert_eq!(tenth.short_delay, Duration::from_millis(300));
        assert_eq!(tenth.long_delay, Duration::from_secs(1));
        assert_eq!(tenth.steady_delay, Duration::from_secs(6));
        assert_eq!(tenth.slow_delay, Duration::from_secs(60));
        assert_eq!(tenth.error_backoff_unit, Duration::from_secs(6));
        assert_eq!(tenth.first_poll, Some(TESTBED_FIRST_POLL));
        let instant = prod.for_time_scale(0.0);
        assert_eq!(instant.short_delay, Duration::from_millis(200));
        assert_eq!(instant.long_delay, Duration::from_millis(500));
        assert_eq!(prod.for_time_scale(f64::NAN), instant);
        assert_eq!(
            prod.for_time_scale(5.0).long_delay,
            prod.long_delay,
            "never slower"
        );
        assert_eq!(
            instant.max_provisioning_retries,
            prod.max_provisioning_retries
        );
        assert!(instant.validate().is_ok());
        assert_eq!(prod.for_fleet(0.0, 100), instant);
        assert_eq!(prod.for_fleet(0.0, HOSTS_PER_FLOOR), instant);
        let thousand = prod.for_fleet(0.0, 1000);
        assert_eq!(thousand.short_delay, Duration::from_millis(800));
        assert_eq!(thousand.long_delay, Duration::from_secs(2));
        assert_eq!(thousand.first_poll, None);
        assert_eq!(
            prod.for_fleet(0.0, 100_000).long_delay,
            prod.long_delay,
            "never slower"
        );
        let flags = tenth.to_flags();
        assert_eq!(
            flags,
            [
                "--poll-short",
                "300ms",
                "--poll-long",
                "1s",
                "--poll-steady",
                "6s",
                "--poll-slow",
                "60s",
                "--missing-secret-retry",
                "1s",
                "--error-backoff-unit",
                "6s",
                "--poll-first",
                "20ms",
            ]
        );
    }
}
