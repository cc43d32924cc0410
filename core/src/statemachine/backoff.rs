//! Requeue delays: the exponential error backoff and the jittered provisioner poll.

use std::time::Duration;

use rand::RngExt;

/// Upstream caps the exponent at 9: 2^9 minutes = 8 h 32 min.
const MAX_EXPONENT: u32 = 9;

/// Upstream's unit of the error backoff: one minute.
pub const ERROR_BACKOFF_UNIT: Duration = Duration::from_secs(60);

fn base_millis(unit: Duration, error_count: i64) -> u64 {
    let n = u32::try_from(error_count.clamp(0, i64::from(MAX_EXPONENT))).unwrap_or(MAX_EXPONENT);
    let unit = u64::try_from(unit.as_millis()).unwrap_or(u64::MAX).max(1);
    (1u64 << n).saturating_mul(unit)
}

/// The requeue after the `error_count`-th error: 2^n minutes minus a random 0–50 %, with n
/// capped at 9 (1 → [1 min, 2 min], 9 and above → [4 h 16 min, 8 h 32 min]).
pub fn error_backoff<R: rand::Rng + ?Sized>(error_count: i64, rng: &mut R) -> Duration {
    error_backoff_in(ERROR_BACKOFF_UNIT, error_count, rng)
}

/// [`error_backoff`] counted in `unit`s instead of minutes (`Settings::error_backoff_unit`).
pub fn error_backoff_in<R: rand::Rng + ?Sized>(
    unit: Duration,
    error_count: i64,
    rng: &mut R,
) -> Duration {
    let base = base_millis(unit, error_count);
    let cut = rng.random_range(0..=base / 2);
    Duration::from_millis(base - cut)
}

/// The shortest delay [`error_backoff_in`] can return for `error_count`.
pub fn backoff_floor(unit: Duration, error_count: i64) -> Duration {
    Duration::from_millis(base_millis(unit, error_count) / 2)
}

/// `base` plus a random 0–25 %, as upstream's Ironic poll delays.
pub fn jittered<R: rand::Rng + ?Sized>(base: Duration, rng: &mut R) -> Duration {
    let millis = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    let extra = rng.random_range(0..=millis / 4);
    Duration::from_millis(millis.saturating_add(extra))
}
