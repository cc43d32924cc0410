//! Times as people read them on a chart: `850 ms`, `12.4 s`, `2 min 05 s`, `30 min`, `1 h 02 min`, and axis
//! ticks at round steps (1, 2 or 5 of a unit, or 15 and 30 of seconds and minutes).

use std::time::Duration;

/// A duration rounded to what a reader needs: three significant figures below a minute, then
/// minutes and seconds, then hours and minutes.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1_000.0;
    if d.is_zero() {
        "0 s".to_string()
    } else if ms < 1.0 {
        format!("{} µs", d.as_micros())
    } else if ms < 1_000.0 {
        format!("{} ms", trim(ms))
    } else if d < Duration::from_secs(60) {
        format!("{} s", trim(ms / 1_000.0))
    } else if d < Duration::from_secs(3_600) {
        let s = d.as_secs();
        match s % 60 {
            0 => format!("{} min", s / 60),
            rest => format!("{} min {rest:02} s", s / 60),
        }
    } else {
        let m = d.as_secs() / 60;
        match m % 60 {
            0 => format!("{} h", m / 60),
            rest => format!("{} h {rest:02} min", m / 60),
        }
    }
}

/// Three significant figures, without trailing zeros (`12.4`, `850`, `1.5`).
fn trim(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Steps an axis may use, smallest first.
const STEPS_MS: [u64; 27] = [
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    18_000_000,
    36_000_000,
    86_400_000,
    172_800_000,
];

/// Tick positions for an axis from 0 to `end`: 0 and every multiple of the smallest round step
/// that gives at most `max` steps (at least one tick, 0, for an empty axis).
pub fn ticks(end: Duration, max: u64) -> Vec<Duration> {
    let end_ms = u64::try_from(end.as_millis()).unwrap_or(u64::MAX);
    let max = max.max(1);
    let step = STEPS_MS
        .iter()
        .copied()
        .find(|s| end_ms.div_ceil(*s) <= max)
        .unwrap_or_else(|| end_ms.div_ceil(max).max(1));
    (0..=end_ms / step)
        .map(|i| Duration::from_millis(i * step))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_a_person_would_use() {
        let cases = [
            (Duration::ZERO, "0 s"),
            (Duration::from_micros(420), "420 µs"),
            (Duration::from_micros(850_400), "850 ms"),
            (Duration::from_micros(1_500), "1.5 ms"),
            (Duration::from_millis(12_437), "12.4 s"),
            (Duration::from_secs(7), "7 s"),
            (Duration::from_secs(125), "2 min 05 s"),
            (Duration::from_secs(3_725), "1 h 02 min"),
            (Duration::from_secs(1_800), "30 min"),
            (Duration::from_secs(7_230), "2 h"),
        ];
        for (d, text) in cases {
            assert_eq!(human(d), text, "{d:?}");
        }
    }

    #[test]
    fn ticks_fall_on_round_steps_and_never_past_the_end() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ticks(Duration::from_millis(93_412), 6),
            ms(&[0, 30_000, 60_000, 90_000])
        );
        assert_eq!(
            ticks(Duration::from_millis(4_400), 6),
            ms(&[0, 1_000, 2_000, 3_000, 4_000])
        );
        assert_eq!(ticks(Duration::from_secs(3_000), 6).len(), 6);
        assert_eq!(ticks(Duration::ZERO, 6), ms(&[0]));
        // Longer than every listed step allows: an even step, still at most `max` of them.
        let long = ticks(Duration::from_secs(30 * 86_400), 6);
        assert!(long.len() <= 7 && long.len() >= 2, "{long:?}");
    }
}
