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
