//! Human durations as flags, fleet files and scenario files write them: `250ms`, `1.5s`, `2m`,
//! `1h`, `30us`, `0` — one parser and one printer for the operator's flags and the simulator's files.

use std::time::Duration;

/// Parses a human duration: `250ms`, `1.5s`, `2m`, `1h`, `30us`, `0`. Used by the operator's flags,
/// fleet and scenario files and the simulator's control API.
pub fn parse_duration(text: &str) -> Result<Duration, DurationParseError> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| DurationParseError(text.to_string()))?;
    let secs_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(DurationParseError(text.to_string())),
    };
    Duration::try_from_secs_f64(value * secs_per_unit)
        .map_err(|_| DurationParseError(text.to_string()))
}

/// Formats a duration the way [`parse_duration`] reads it back (`1.5s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        "0".to_string()
    } else if !d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}us", d.as_micros())
    } else if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// A duration string that is not a number followed by ns, us, ms, s, m or h.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected a number followed by ns, us, ms, s, m or h (e.g. 250ms, 1.5s)"
)]
pub struct DurationParseError(pub String);

/// A real-world wait compressed for a testbed whose machines run `scale` times as long as real
/// ones: `real` × `scale`, never below `floor` (below it the waiter would only load its peer) and
/// never above `real` (a testbed never waits longer than production). A `scale` that is not finite
/// and ≥ 0 counts as 0 (fleet files refuse such scales before they get here). The one rule for
/// every scaled wait: the operator's polls, the agents' heartbeats and lookups, the conductor's.
pub fn scaled(real: Duration, scale: f64, floor: Duration) -> Duration {
    let scale = if scale.is_finite() && scale > 0.0 {
        scale.min(1.0)
    } else {
        0.0
    };
    real.mul_f64(scale).max(floor).min(real)
}

/// `unit` once per `per` members of a fleet of `members` (at least once): a floor that grows with
/// the fleet, so a thousand waiters load their peer no more in total than `per` of them do.
pub fn per_fleet(unit: Duration, members: usize, per: usize) -> Duration {
    let steps = members.div_ceil(per.max(1)).max(1);
    unit.saturating_mul(u32::try_from(steps).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_waits_stay_between_the_floor_and_the_real_wait() {
        let real = Duration::from_secs(30);
        let floor = Duration::from_millis(100);
        assert_eq!(scaled(real, 0.1, floor), Duration::from_secs(3));
        assert_eq!(scaled(real, 0.0, floor), floor);
        assert_eq!(scaled(real, f64::NAN, floor), floor);
        assert_eq!(scaled(real, -1.0, floor), floor);
        assert_eq!(
            scaled(real, 5.0, floor),
            real,
            "never slower than production"
        );
        assert_eq!(
            scaled(real, 0.0, Duration::from_secs(90)),
            real,
            "a floor above the real wait"
        );
    }

    #[test]
    fn fleet_floors_grow_per_step() {
        let unit = Duration::from_millis(200);
        assert_eq!(per_fleet(unit, 0, 100), unit);
        assert_eq!(per_fleet(unit, 100, 100), unit);
        assert_eq!(per_fleet(unit, 101, 100), unit * 2);
        assert_eq!(per_fleet(unit, 1000, 100), unit * 10);
        assert_eq!(per_fleet(unit, 5, 0), unit * 5);
    }
}
