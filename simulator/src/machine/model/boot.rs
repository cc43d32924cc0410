//! Boot configuration (override, order, mode, secure boot, BIOS) and the firmware's boot decision.

use std::collections::BTreeMap;

use super::super::event::{
    Ack, BootOutcome, BootRecord, MachineError, MachineEvent, RamdiskSource,
};
use super::super::firmware::{
    BiosValue, BootMode, BootOverride, BootSource, MediaSlot, OverrideMode,
};
use super::super::time::SimTime;
use super::Machine;

impl Machine {
    // ----- boot configuration -----

    /// Sets the boot override; `mode == Disabled` clears it.
    pub fn set_boot_override(
        &mut self,
        now: SimTime,
        target: BootSource,
        mode: OverrideMode,
    ) -> Ack {
        self.tick(now);
        let new = if mode == OverrideMode::Disabled {
            BootOverride {
                target: self.boot_override.target,
                mode,
            }
        } else {
            BootOverride { target, mode }
        };
        if new == self.boot_override {
            return Ack::Unchanged;
        }
        self.boot_override = new;
        Ack::Started
    }

    /// Replaces the boot order (non-empty, no duplicates).
    pub fn set_boot_order(
        &mut self,
        now: SimTime,
        order: Vec<BootSource>,
    ) -> Result<Ack, MachineError> {
        self.tick(now);
        if order.is_empty() {
            return Err(MachineError::InvalidBootOrder { reason: "empty" });
        }
        let mut seen = order.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != order.len() {
            return Err(MachineError::InvalidBootOrder {
                reason: "a source appears twice",
            });
        }
        if order == self.boot_order {
            return Ok(Ack::Unchanged);
        }
        self.boot_order = order;
        Ok(Ack::Started)
    }

    /// Sets the boot mode now (Redfish `BootSourceOverrideMode`, IPMI EFI flag). Disables secure boot
    /// when switching to Legacy.
    pub fn set_boot_mode(&mut self, now: SimTime, mode: BootMode) -> Ack {
        self.tick(now);
        if mode == self.boot_mode {
            return Ack::Unchanged;
        }
        self.boot_mode = mode;
        let text = match mode {
            BootMode::Uefi => "Uefi",
            BootMode::Legacy => "Legacy",
        };
        self.bios
            .current
            .insert("BootMode".into(), BiosValue::Text(text.into()));
        if mode == BootMode::Legacy {
            self.secure_boot = false;
        }
        Ack::Started
    }

    /// Enables or disables secure boot (UEFI only).
    pub fn set_secure_boot(&mut self, now: SimTime, enabled: bool) -> Result<Ack, MachineError> {
        self.tick(now);
        if enabled && self.boot_mode != BootMode::Uefi {
            return Err(MachineError::SecureBootNeedsUefi);
        }
        if enabled == self.secure_boot {
            return Ok(Ack::Unchanged);
        }
        self.secure_boot = enabled;
        Ok(Ack::Started)
    }

    /// Queues BIOS attribute changes for the next reset. All or nothing: a value the attribute
    /// registry refuses (unknown, read-only, wrong type, out of bounds, not allowed) rejects the
    /// whole patch.
    pub fn patch_bios(
        &mut self,
        now: SimTime,
        changes: BTreeMap<String, BiosValue>,
    ) -> Result<Ack, MachineError> {
        self.tick(now);
        self.bios
            .registry
            .check_all(&changes)
            .map_err(MachineError::BiosSettingRefused)?;
        self.bios.pending.extend(changes);
        Ok(Ack::Queued)
    }

    /// Drops BIOS changes not yet applied.
    pub fn clear_pending_bios(&mut self, now: SimTime) -> Ack {
        self.tick(now);
        if self.bios.pending.is_empty() {
            return Ack::Unchanged;
        }
        self.bios.pending.clear();
        Ack::Started
    }

    /// Queues the factory defaults for the next reset (Redfish `Bios.ResetBios`).
    pub fn reset_bios_to_defaults(&mut self, now: SimTime) -> Ack {
        self.tick(now);
        self.bios.pending = self.bios.defaults.clone();
        Ack::Queued
    }

    /// The firmware at the end of POST: apply pending BIOS, pick a source, consume a Once override.
    pub(super) fn boot(&mut self, at: SimTime) {
        self.apply_pending_bios(at);
        let (source, outcome) = if self.boot_override.is_active() {
            let target = self.boot_override.target;
            if self.boot_override.mode == OverrideMode::Once {
                self.boot_override.mode = OverrideMode::Disabled;
                self.push(MachineEvent::BootOverrideCleared { at });
            }
            // An explicit override is strict: if its device cannot boot, the boot fails.
            let outcome = self
                .resolve(target)
                .unwrap_or(BootOutcome::NoBootableDevice);
            (Some(target), outcome)
        } else {
            self.boot_order
                .clone()
                .into_iter()
                .find_map(|s| self.resolve(s).map(|o| (Some(s), o)))
                .unwrap_or((None, BootOutcome::NoBootableDevice))
        };
        self.boot_count += 1;
        let record = BootRecord {
            at,
            source,
            outcome,
            count: self.boot_count,
        };
        self.last_boot = Some(record.clone());
        self.push(MachineEvent::Booted { record });
    }

    fn resolve(&self, source: BootSource) -> Option<BootOutcome> {
        match source {
            BootSource::Pxe => self.boot_nic.clone().map(|mac| BootOutcome::Ramdisk {
                via: RamdiskSource::Pxe { mac },
            }),
            BootSource::UefiHttp if self.boot_mode == BootMode::Uefi => {
                self.boot_nic.clone().map(|mac| BootOutcome::Ramdisk {
                    via: RamdiskSource::UefiHttp { mac },
                })
            }
            BootSource::UefiHttp => None,
            BootSource::Cd | BootSource::Floppy => {
                let slot = if source == BootSource::Cd {
                    MediaSlot::Cd
                } else {
                    MediaSlot::Floppy
                };
                let m = &self.media[slot.index()];
                match (&m.image, m.connected) {
                    (Some(image), true) => Some(BootOutcome::Ramdisk {
                        via: RamdiskSource::VirtualMedia {
                            slot,
                            image: image.clone(),
                        },
                    }),
                    _ => None,
                }
            }
            BootSource::Hdd => {
                self.disks
                    .iter()
                    .find(|d| d.bootable())
                    .map(|d| BootOutcome::Disk {
                        disk: d.name.clone(),
                        image: d.image.as_ref().map(|i| i.url.clone()).unwrap_or_default(),
                    })
            }
            BootSource::BiosSetup => Some(BootOutcome::BiosSetup),
        }
    }

    fn apply_pending_bios(&mut self, at: SimTime) {
        if self.bios.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.bios.pending);
        let attributes: Vec<String> = pending.keys().cloned().collect();
        for (name, value) in pending {
            let new_mode = match (&*name, &value) {
                ("BootMode", BiosValue::Text(t)) => BootMode::parse(t),
                _ => None,
            };
            if let Some(mode) = new_mode {
                self.boot_mode = mode;
                if mode == BootMode::Legacy {
                    self.secure_boot = false;
                }
            }
            self.bios.current.insert(name, value);
        }
        self.push(MachineEvent::BiosApplied { at, attributes });
    }
}
