//! Simulated machines: hardware profile, power, boot, media and disks, stepped by simulated time.
//!
//! # The API in one page (for the Redfish, IPMI and agent shells)
//!
//! **Pure model.** [`Machine`] is a deterministic state machine. Every method takes `now: SimTime`
//! ([`SimTime`] = nanoseconds since the world started) and first completes the transitions due by
//! then. Power requests start transitions whose length comes from [`Timing`] (already multiplied by
//! the fleet's time scale, with seeded jitter):
//!
//! | method                | from `On`                        | from `Off`          | notes                          |
//! |-----------------------|----------------------------------|---------------------|--------------------------------|
//! | `power_on`            | `Unchanged`                      | → PoweringOn → On   | queued behind a PoweringOff    |
//! | `force_off`           | → PoweringOff → Off (fast)       | `Unchanged`         | cancels a queued power-on      |
//! | `graceful_shutdown`   | → PoweringOff → Off (OS latency) | `Err(PoweredOff)`   |                                |
//! | `graceful_restart`    | graceful off, then on + boot     | `Err(PoweredOff)`   |                                |
//! | `force_restart`       | warm reset (stays On) + boot     | `Err(PoweredOff)`   |                                |
//! | `power_cycle`         | hard off, then on + boot         | `Err(PoweredOff)`   |                                |
//! | `nmi`                 | `MachineEvent::Nmi`              | `Err(PoweredOff)`   |                                |
//! | `push_power_button`   | = `graceful_shutdown`            | = `power_on`        |                                |
//!
//! Successful calls return an [`Ack`] (`Started`, `Unchanged`, `Queued`); refusals a
//! [`MachineError`] a BMC maps to its own error (Redfish 409/400, IPMI completion code).
//!
//! **Boot.** When a power-on or reset completes, the firmware: applies pending BIOS settings
//! (`patch_bios` queues them; a pending `BootMode` changes the boot mode), then boots the active
//! override (`set_boot_override(now, target, OverrideMode::Once | Continuous | Disabled)`; a `Once`
//! override is cleared by that boot; an override is strict, an unusable target gives
//! `NoBootableDevice`) or else the first usable entry of the boot order (default `[Hdd, Pxe]`):
//! `Pxe`/`UefiHttp` (needs a PXE NIC; UEFI HTTP needs UEFI mode) and `Cd`/`Floppy` with inserted media
//! give [`BootOutcome::Ramdisk`]`{via}`; `Hdd` gives [`BootOutcome::Disk`]`{disk, image}` when a disk has
//! an image and a partition table; `BiosSetup` gives [`BootOutcome::BiosSetup`]; otherwise
//! [`BootOutcome::NoBootableDevice`]. Virtual media: `insert_media(now, slot, url, write_protected)` /
//! `eject_media`. Disks (written by the agent): `write_image`, `wipe_partition_table`, `erase_disk`.
//!
//! **Events.** Every change is recorded as a [`MachineEvent`] (power changes, `Booted{record}`, override
//! cleared, BIOS applied, NMI, media, disk). `Machine::take_events` drains them.
//!
//! **Runtime.** A [`World`] holds every [`Host`] (`Arc<Host>`: name, labels, [`HardwareProfile`],
//! [`BmcEndpoint`] with protocol, socket, system id and [`Credentials`], a `Mutex<Machine>` and its
//! faults). Shells use:
//! - lookups: `world.host_by_system_id(id)`, `host_by_name`, `host_by_bmc_address`, `hosts_at(local_socket)`,
//!   `listeners()`;
//! - `host.fault_verdict(FaultKind::HttpRequest | IpmiPacket, now)` at the facade (see [`crate::fault`]);
//! - `host.power_action(now, |m| m.power_on(now))` for power requests (applies power faults);
//! - `host.with_machine(now, |m| …)` for everything else (ticks, runs, publishes events);
//! - `host.view(now)` for a serializable [`MachineView`];
//! - `world.subscribe()` for the [`HostEvent`] stream — the agent's hook is
//!   `MachineEvent::Booted { record }` with `record.outcome == BootOutcome::Ramdisk { .. }`;
//! - `world.now()` (the [`SimClock`], the only reader of the wall clock) and `world.spawn_ticker(..)`.
//!
//! Randomness: [`derive_rng`]`(seed, purpose, host_index)` gives each host its own ChaCha8 stream per
//! purpose, so a seed reproduces profiles, MACs, UUIDs, jitter and fault draws.

mod bios_registry;
mod event;
mod firmware;
mod model;
mod profile;
mod raid;
pub mod time;
mod world;

pub use bios_registry::{
    AttributeType, BIOS_REGISTRY_VERSION, BiosAttribute, BiosRefusal, BiosRegistry,
};
pub use event::{
    Ack, BootOutcome, BootRecord, MachineError, MachineEvent, PowerState, RamdiskSource,
};
pub use firmware::{
    BiosSettings, BiosValue, BootMode, BootOverride, BootSource, DiskContents, MediaSlot,
    OverrideMode, VirtualMedia, WrittenImage,
};
pub use model::{Machine, MachineView};
pub use profile::{
    BiosInfo, CpuInfo, Disk, DiskKind, FirmwareComponent, HardwareProfile, Lldp, MemoryInfo, Nic,
    PcieClass, PcieDevice, SystemInfo,
};
pub use raid::{RaidController, RaidLevel, RaidRefusal, RaidState, Volume, VolumeRequest};
pub use time::{SimClock, SimTime, Timing};
pub use world::{
    BmcEndpoint, BmcProtocol, Credentials, Host, HostEvent, HostSpec, ListenerKind, ListenerPlan,
    World, WorldError, derive_rng,
};
