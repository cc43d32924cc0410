//! Bounded waiting (from `metal_testkit::wait`): every wait has a deadline and reports what it
//! last saw when it expires.

pub use metal_testkit::wait::{Check, Wait, eventually, eventually_ok};
