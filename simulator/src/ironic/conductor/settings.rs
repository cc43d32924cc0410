//! Conductor settings: phase durations and the provision targets it accepts.

use chrono::TimeDelta;

/// How long each simulated phase takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timings {
    /// enroll → manageable.
    pub verify: TimeDelta,
    /// manageable → available (without automated cleaning).
    pub provide: TimeDelta,
    /// Image write during deploy.
    pub deploy: TimeDelta,
    /// Teardown during undeploy.
    pub undeploy: TimeDelta,
    /// Inspection.
    pub inspect: TimeDelta,
    /// Cleaning (automated or manual).
    pub clean: TimeDelta,
    /// Adoption.
    pub adopt: TimeDelta,
    /// A fake power action.
    pub power: TimeDelta,
    /// Between periodic power-state syncs of BMC-backed nodes.
    pub power_sync: TimeDelta,
}

impl Timings {
    /// Timings measured on real Ironic's fake-hardware (peers.md).
    pub fn fake_hardware() -> Self {
        let ms = TimeDelta::milliseconds;
        Self {
            verify: ms(50),
            provide: ms(150),
            deploy: ms(170),
            undeploy: ms(150),
            inspect: ms(100),
            clean: ms(150),
            adopt: ms(50),
            power: ms(20),
            power_sync: TimeDelta::seconds(60),
        }
    }

    /// No simulated delays (benchmarks, engine mode).
    pub fn instant() -> Self {
        let z = TimeDelta::zero();
        Self {
            verify: z,
            provide: z,
            deploy: z,
            undeploy: z,
            inspect: z,
            clean: z,
            adopt: z,
            power: z,
            power_sync: TimeDelta::seconds(60),
        }
    }
}

/// Conductor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Phase durations.
    pub timings: Timings,
    /// Ironic's `[conductor] automated_clean` (a node's own `automated_clean` wins).
    pub automated_clean: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timings: Timings::fake_hardware(),
            automated_clean: false,
        }
    }
}

/// A `states/provision` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// "manage".
    Manage,
    /// "provide".
    Provide,
    /// "inspect".
    Inspect,
    /// "active" (deploy).
    Active,
    /// "deleted" or "undeploy".
    Deleted,
    /// "abort".
    Abort,
    /// "clean" (manual cleaning).
    Clean,
    /// "adopt".
    Adopt,
    /// "rebuild".
    Rebuild,
}

impl Target {
    /// Parses the `target` of a provision request.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "manage" => Self::Manage,
            "provide" => Self::Provide,
            "inspect" => Self::Inspect,
            "active" => Self::Active,
            "deleted" | "undeploy" => Self::Deleted,
            "abort" => Self::Abort,
            "clean" => Self::Clean,
            "adopt" => Self::Adopt,
            "rebuild" => Self::Rebuild,
            _ => return None,
        })
    }
}
