//! The machine state machine: state, time and power with latency. Boot configuration and the
//! firmware's boot decision live in `boot`, virtual media and disks in `storage`.

mod boot;
mod storage;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::bios_registry::BiosRegistry;
use super::event::{Ack, BootRecord, MachineError, MachineEvent, PowerState};
use super::firmware::{
    BiosSettings, BiosValue, BootMode, BootOverride, BootSource, DiskContents, MediaSlot,
    VirtualMedia,
};
use super::profile::HardwareProfile;
use super::raid::RaidState;
use super::time::{SimTime, Timing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Step {
    /// Off → On, then boot.
    PowerOn,
    /// → Off; `then_on` chains a power-on (restart, cycle, queued On).
    PowerOff { then_on: bool, graceful: bool },
    /// Warm reset while on, then boot.
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Transition {
    step: Step,
    done_at: SimTime,
}

const OUTBOX_LIMIT: usize = 512;

/// One simulated machine: pure, deterministic, stepped by `now`.
///
/// Every method takes the current simulated instant. Call [`Machine::tick`] (or go through
/// `Host::with_machine`, which does) before reading state so finished transitions are applied.
#[derive(Debug, Clone)]
pub struct Machine {
    timing: Timing,
    rng: ChaCha8Rng,
    power: PowerState,
    transition: Option<Transition>,
    stuck: bool,
    boot_nic: Option<String>,
    boot_order: Vec<BootSource>,
    boot_override: BootOverride,
    boot_mode: BootMode,
    secure_boot: bool,
    bios: BiosSettings,
    media: [VirtualMedia; 2],
    disks: Vec<DiskContents>,
    raid: RaidState,
    last_boot: Option<BootRecord>,
    boot_count: u64,
    power_changed_at: SimTime,
    outbox: Vec<MachineEvent>,
}

/// A serializable snapshot of a machine's state (ground truth for the control API and traces).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineView {
    /// Power state.
    pub power: PowerState,
    /// When the power state last changed.
    pub power_changed_at: SimTime,
    /// When the transition in progress completes, if any.
    pub transition_done_at: Option<SimTime>,
    /// True while a fault holds transitions.
    pub stuck: bool,
    /// Boot order.
    pub boot_order: Vec<BootSource>,
    /// Boot override.
    pub boot_override: BootOverride,
    /// Boot mode.
    pub boot_mode: BootMode,
    /// Secure boot enabled.
    pub secure_boot: bool,
    /// BIOS attributes pending for the next reset.
    pub bios_pending: BTreeMap<String, BiosValue>,
    /// Virtual media slots, by slot.
    pub media: BTreeMap<MediaSlot, VirtualMedia>,
    /// Disk contents.
    pub disks: Vec<DiskContents>,
    /// The last boot.
    pub last_boot: Option<BootRecord>,
}

impl Machine {
    /// A new machine, powered off, boot order `[Hdd, Pxe]`, UEFI, factory BIOS, empty media and disks.
    /// `rng` is this host's own stream (jitter); `timing` is already scaled.
    pub fn new(profile: &HardwareProfile, timing: Timing, rng: ChaCha8Rng) -> Self {
        Machine {
            timing,
            rng,
            power: PowerState::Off,
            transition: None,
            stuck: false,
            boot_nic: profile.boot_mac().map(str::to_string),
            boot_order: vec![BootSource::Hdd, BootSource::Pxe],
            boot_override: BootOverride::NONE,
            boot_mode: BootMode::Uefi,
            secure_boot: false,
            bios: BiosSettings::factory(Arc::new(BiosRegistry::for_profile(profile))),
            media: [VirtualMedia::default(), VirtualMedia::default()],
            disks: profile
                .disks
                .iter()
                .map(|d| DiskContents {
                    name: d.name.clone(),
                    image: None,
                    partition_table: false,
                })
                .collect(),
            raid: RaidState::new(profile),
            last_boot: None,
            boot_count: 0,
            power_changed_at: SimTime::ZERO,
            outbox: Vec::new(),
        }
    }

    // ----- reading -----

    /// Power state (as of the last tick).
    pub fn power(&self) -> PowerState {
        self.power
    }

    /// When the transition in progress completes, if any (`None` when settled).
    pub fn next_deadline(&self) -> Option<SimTime> {
        if self.stuck {
            None
        } else {
            self.transition.map(|t| t.done_at)
        }
    }

    /// The boot override in force.
    pub fn boot_override(&self) -> BootOverride {
        self.boot_override
    }

    /// The boot order.
    pub fn boot_order(&self) -> &[BootSource] {
        &self.boot_order
    }

    /// The boot mode.
    pub fn boot_mode(&self) -> BootMode {
        self.boot_mode
    }

    /// Whether secure boot is enabled.
    pub fn secure_boot(&self) -> bool {
        self.secure_boot
    }

    /// BIOS settings (current, pending, defaults).
    pub fn bios(&self) -> &BiosSettings {
        &self.bios
    }

    /// One virtual media slot.
    pub fn media(&self, slot: MediaSlot) -> &VirtualMedia {
        &self.media[slot.index()]
    }

    /// Disk contents, in profile order.
    pub fn disks(&self) -> &[DiskContents] {
        &self.disks
    }

    /// The RAID controller and its volumes.
    pub fn raid(&self) -> &RaidState {
        &self.raid
    }

    /// The last boot, if the machine ever booted.
    pub fn last_boot(&self) -> Option<&BootRecord> {
        self.last_boot.as_ref()
    }

    /// Whether a fault holds transitions (see [`Machine::set_stuck`]).
    pub fn is_stuck(&self) -> bool {
        self.stuck
    }

    /// A serializable snapshot.
    pub fn view(&self) -> MachineView {
        MachineView {
            power: self.power,
            power_changed_at: self.power_changed_at,
            transition_done_at: self.transition.map(|t| t.done_at),
            stuck: self.stuck,
            boot_order: self.boot_order.clone(),
            boot_override: self.boot_override,
            boot_mode: self.boot_mode,
            secure_boot: self.secure_boot,
            bios_pending: self.bios.pending.clone(),
            media: MediaSlot::ALL
                .into_iter()
                .map(|s| (s, self.media[s.index()].clone()))
                .collect(),
            disks: self.disks.clone(),
            last_boot: self.last_boot.clone(),
        }
    }

    /// Drains the events recorded since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<MachineEvent> {
        std::mem::take(&mut self.outbox)
    }

    // ----- time -----

    /// Completes every transition due by `now`, in order (a restart's off half, then its on half).
    pub fn tick(&mut self, now: SimTime) {
        // Each iteration either completes a transition or returns; chains are at most off → on.
        for _ in 0..4 {
            let Some(t) = self.transition else { return };
            if self.stuck || t.done_at > now {
                return;
            }
            self.transition = None;
            match t.step {
                Step::PowerOff { then_on, .. } => {
                    self.set_power(t.done_at, PowerState::Off);
                    if then_on {
                        self.start(t.done_at, Step::PowerOn);
                    }
                }
                Step::PowerOn => {
                    self.set_power(t.done_at, PowerState::On);
                    self.boot(t.done_at);
                }
                Step::Reset => self.boot(t.done_at),
            }
        }
    }

    /// Holds (`true`) or releases transitions: a stuck machine stays in PoweringOn/PoweringOff.
    /// Set by the fault facade for "power transitions that stick".
    pub fn set_stuck(&mut self, stuck: bool) {
        self.stuck = stuck;
    }

    // ----- power -----

    /// Power on (Redfish `On`/`ForceOn`, IPMI power up). Queued behind a power-off in progress.
    pub fn power_on(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match (self.power, self.transition) {
            (PowerState::Off, _) => {
                self.start(now, Step::PowerOn);
                Ok(Ack::Started)
            }
            (
                PowerState::PoweringOff,
                Some(Transition {
                    step: Step::PowerOff { then_on, graceful },
                    done_at,
                }),
            ) => {
                if then_on {
                    return Ok(Ack::Unchanged);
                }
                self.transition = Some(Transition {
                    step: Step::PowerOff {
                        then_on: true,
                        graceful,
                    },
                    done_at,
                });
                Ok(Ack::Queued)
            }
            _ => Ok(Ack::Unchanged),
        }
    }

    /// Hard power off (Redfish `ForceOff`, IPMI power down). Cancels a queued power-on or reset.
    pub fn force_off(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match (self.power, self.transition) {
            (PowerState::Off, _) => Ok(Ack::Unchanged),
            (PowerState::PoweringOff, Some(t)) => {
                let hard_done = now + self.jittered(self.timing.force_off);
                let done_at = t.done_at.min(hard_done);
                self.transition = Some(Transition {
                    step: Step::PowerOff {
                        then_on: false,
                        graceful: false,
                    },
                    done_at,
                });
                Ok(Ack::Started)
            }
            _ => {
                self.start(
                    now,
                    Step::PowerOff {
                        then_on: false,
                        graceful: false,
                    },
                );
                Ok(Ack::Started)
            }
        }
    }

    /// ACPI shutdown (Redfish `GracefulShutdown`, IPMI soft off): the OS takes a while to stop.
    pub fn graceful_shutdown(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match self.power {
            PowerState::Off => Err(MachineError::PoweredOff {
                action: "GracefulShutdown",
            }),
            PowerState::PoweringOff => Ok(Ack::Unchanged),
            PowerState::PoweringOn => Err(MachineError::InTransition {
                action: "GracefulShutdown",
            }),
            PowerState::On => {
                self.start(
                    now,
                    Step::PowerOff {
                        then_on: false,
                        graceful: true,
                    },
                );
                Ok(Ack::Started)
            }
        }
    }

    /// OS restart (Redfish `GracefulRestart`): graceful off, then on and boot.
    pub fn graceful_restart(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match self.power {
            PowerState::Off => Err(MachineError::PoweredOff {
                action: "GracefulRestart",
            }),
            PowerState::PoweringOn | PowerState::PoweringOff => Err(MachineError::InTransition {
                action: "GracefulRestart",
            }),
            PowerState::On => {
                self.start(
                    now,
                    Step::PowerOff {
                        then_on: true,
                        graceful: true,
                    },
                );
                Ok(Ack::Started)
            }
        }
    }

    /// Warm reset (Redfish `ForceRestart`, IPMI hard reset): power stays on, firmware boots again.
    pub fn force_restart(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match self.power {
            PowerState::Off => Err(MachineError::PoweredOff {
                action: "ForceRestart",
            }),
            PowerState::PoweringOff => Err(MachineError::InTransition {
                action: "ForceRestart",
            }),
            PowerState::PoweringOn => {
                // Restart the self test from now.
                self.transition = Some(Transition {
                    step: Step::PowerOn,
                    done_at: now + self.jittered(self.timing.power_on),
                });
                Ok(Ack::Started)
            }
            PowerState::On => {
                self.start(now, Step::Reset);
                Ok(Ack::Started)
            }
        }
    }

    /// Power cycle (Redfish `PowerCycle`, IPMI power cycle): hard off, then on and boot.
    pub fn power_cycle(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match (self.power, self.transition) {
            (PowerState::Off, _) => Err(MachineError::PoweredOff {
                action: "PowerCycle",
            }),
            (
                PowerState::PoweringOff,
                Some(Transition {
                    step: Step::PowerOff { graceful, .. },
                    done_at,
                }),
            ) => {
                self.transition = Some(Transition {
                    step: Step::PowerOff {
                        then_on: true,
                        graceful,
                    },
                    done_at,
                });
                Ok(Ack::Queued)
            }
            _ => {
                self.start(
                    now,
                    Step::PowerOff {
                        then_on: true,
                        graceful: false,
                    },
                );
                Ok(Ack::Started)
            }
        }
    }

    /// Diagnostic interrupt (Redfish `Nmi`, IPMI diag).
    pub fn nmi(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        if self.power != PowerState::On {
            return Err(MachineError::PoweredOff { action: "Nmi" });
        }
        self.push(MachineEvent::Nmi { at: now });
        Ok(Ack::Started)
    }

    /// A short press of the power button: on when off, ACPI shutdown when on.
    pub fn push_power_button(&mut self, now: SimTime) -> Result<Ack, MachineError> {
        self.tick(now);
        match self.power {
            PowerState::Off => self.power_on(now),
            PowerState::On => self.graceful_shutdown(now),
            PowerState::PoweringOn | PowerState::PoweringOff => Ok(Ack::Unchanged),
        }
    }

    // ----- internals -----

    fn push(&mut self, event: MachineEvent) {
        if self.outbox.len() >= OUTBOX_LIMIT {
            self.outbox.remove(0);
        }
        self.outbox.push(event);
    }

    fn jittered(&mut self, base: Duration) -> Duration {
        let j = self.timing.jitter.clamp(0.0, 1.0);
        if j == 0.0 || base.is_zero() {
            return base;
        }
        let factor = self.rng.random_range((1.0 - j)..=(1.0 + j));
        base.mul_f64(factor)
    }

    fn start(&mut self, now: SimTime, step: Step) {
        let base = match step {
            Step::PowerOn => self.timing.power_on,
            Step::PowerOff { graceful: true, .. } => self.timing.graceful_shutdown,
            Step::PowerOff {
                graceful: false, ..
            } => self.timing.force_off,
            Step::Reset => self.timing.reset,
        };
        let done_at = now + self.jittered(base);
        self.transition = Some(Transition { step, done_at });
        match step {
            Step::PowerOn => self.set_power(now, PowerState::PoweringOn),
            Step::PowerOff { .. } => self.set_power(now, PowerState::PoweringOff),
            Step::Reset => {}
        }
    }

    fn set_power(&mut self, at: SimTime, to: PowerState) {
        let from = self.power;
        if from == to {
            return;
        }
        self.power = to;
        self.power_changed_at = at;
        self.push(MachineEvent::PowerChanged { at, from, to });
    }
}
