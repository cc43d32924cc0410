//! serde helpers that make our types read and write JSON the way upstream's Go types do.

use serde::{Deserialize, Deserializer};

/// Reads `null` as the type's default: Go writes `null` for nil slices and maps, and a status
/// copied from another cluster must still parse.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// Skips a `false` boolean on output, as Go's `omitempty` does.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}

/// Skips an empty string on output.
pub(crate) fn is_empty(value: &str) -> bool {
    value.is_empty()
}

/// Skips a zero integer on output.
pub(crate) fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

/// Skips a zero VLAN id on output.
pub(crate) fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

/// Skips a zero float on output.
pub(crate) fn is_zero_f64(value: &f64) -> bool {
    *value == 0.0
}
