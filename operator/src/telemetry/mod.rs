//! Observability: Prometheus metrics with upstream names, health probes, and logging set-up.

pub mod logging;
pub mod metrics;
pub mod probe;

pub use logging::{LogFormat, LoggingError};
pub use metrics::{Delay, HostLabels, Incident, Metrics, Operation};
pub use probe::{ProbeState, Readiness};
