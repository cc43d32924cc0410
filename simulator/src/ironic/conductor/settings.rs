//! Conductor settings: phase durations and the provision targets it accepts.

use chrono::TimeDelta;

/// Ironic's default for the three callback timeouts (30 minutes).
const CALLBACK_TIMEOUT_SECS: i64 = 1800;

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
    /// How long a node may wait for its agent in `wait call-back`, `clean wait` or `inspect wait` before
    /// it fails (Ironic's `deploy_callback_timeout`, `clean_callback_timeout`, `inspect_wait_timeout`).
    pub callback_timeout: TimeDelta,
}

impl Timings {
    /// Timings measured on real Ironic's fake-hardware (by the real-Ironic comparison tests, `simulator/tests/ironic_compare.rs`;
    /// `docs/ironic-differences.md` lists them).
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
            callback_timeout: TimeDelta::seconds(CALLBACK_TIMEOUT_SECS),
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
            callback_timeout: TimeDelta::seconds(CALLBACK_TIMEOUT_SECS),
        }
    }
}

/// Conductor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// AgentPhase durations.
    pub timings: Timings,
    /// Ironic's `[conductor] automated_clean` (a node's own `automated_clean` wins).
    pub automated_clean: bool,
    /// Ironic's `[deploy] erase_devices_priority` (None: the agent's own priority).
    pub erase_devices_priority: Option<i64>,
    /// Ironic's `[deploy] erase_devices_metadata_priority` (None: the agent's own priority).
    pub erase_devices_metadata_priority: Option<i64>,
    /// The most nodes the API creates (`POST /v1/nodes` beyond it is refused with 403): the mock
    /// is noauth, so any client may create; default [`Settings::MAX_NODES`].
    pub max_nodes: usize,
    /// The most ports the API creates (`POST /v1/ports` beyond it is refused with 403); default
    /// [`Settings::MAX_PORTS`].
    pub max_ports: usize,
}

/// The shortest callback timeout a scaled conductor uses: many heartbeats of a scaled agent, and
/// room for a loaded machine (a thousand agents booting at once) to get its first one in.
const FLOOR_CALLBACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The shortest power-state sync period a scaled conductor uses, per [`HOSTS_PER_POWER_SYNC`]
/// nodes: real Ironic syncs every node once a minute with a few workers; a scaled conductor of a
/// thousand nodes syncs each every 10 s rather than a thousand BMCs every second.
const FLOOR_POWER_SYNC: std::time::Duration = std::time::Duration::from_secs(1);
/// Nodes per step of the power-sync floor.
const HOSTS_PER_POWER_SYNC: usize = 100;

impl Settings {
    /// The default node cap: twice the largest fleet run (100 000 hosts in engine mode).
    pub const MAX_NODES: usize = 200_000;
    /// The default port cap: eight per node of [`Settings::MAX_NODES`].
    pub const MAX_PORTS: usize = 8 * Self::MAX_NODES;

    /// The defaults of a conductor serving a fleet of `hosts` at `time_scale`: its waits on the
    /// outside world (the callback timeout, the power-state sync period) scaled from Ironic's
    /// defaults within floors (`metal_core::duration::scaled`); the power-sync floor grows with
    /// the fleet. The phase timings are real Ironic's own fake-hardware figures, already short.
    pub fn for_fleet(time_scale: f64, hosts: usize) -> Self {
        use metal_core::duration::{per_fleet, scaled};
        let mut settings = Self::default();
        let scale = |d: TimeDelta, floor| {
            let real = d.to_std().unwrap_or_default();
            TimeDelta::from_std(scaled(real, time_scale, floor)).unwrap_or(d)
        };
        settings.timings.callback_timeout =
            scale(settings.timings.callback_timeout, FLOOR_CALLBACK_TIMEOUT);
        let power_floor = per_fleet(FLOOR_POWER_SYNC, hosts, HOSTS_PER_POWER_SYNC);
        settings.timings.power_sync = scale(settings.timings.power_sync, power_floor);
        settings
    }

    /// [`Settings::for_fleet`] for a fleet of up to a hundred nodes.
    pub fn for_time_scale(time_scale: f64) -> Self {
        Self::for_fleet(time_scale, 1)
    }

    /// Default settings with the given timings and automated-cleaning switch.
    pub fn with(timings: Timings, automated_clean: bool) -> Self {
        Self {
            timings,
            automated_clean,
            ..Self::default()
        }
    }
}

impl Default for Settings {
    /// fake-hardware timings, automated cleaning off, and Metal3's clean-step priorities (only
    /// `erase_devices_metadata` runs in automated cleaning; a full `erase_devices` does not).
    fn default() -> Self {
        Self {
            timings: Timings::fake_hardware(),
            automated_clean: false,
            erase_devices_priority: Some(0),
            erase_devices_metadata_priority: Some(10),
            max_nodes: Self::MAX_NODES,
            max_ports: Self::MAX_PORTS,
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
    /// "service" (service steps on a deployed node, 1.87).
    Service,
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
            "service" => Self::Service,
            _ => return None,
        })
    }
}
