//! Virtual media slots, disk contents (written by the agent running in a ramdisk) and hardware
//! RAID volumes (built by the BMC's storage controller).

use super::super::event::{Ack, MachineError, MachineEvent};
use super::super::firmware::{DiskContents, MediaSlot, VirtualMedia, WrittenImage};
use super::super::raid::{Volume, VolumeRequest};
use super::super::time::SimTime;
use super::Machine;
use crate::guest::ConfigDrive;

impl Machine {
    // ----- virtual media -----

    /// Inserts an image into a slot (refused while the slot is full: eject first).
    pub fn insert_media(
        &mut self,
        now: SimTime,
        slot: MediaSlot,
        image: &str,
        write_protected: bool,
    ) -> Result<Ack, MachineError> {
        self.tick(now);
        let m = &mut self.media[slot.index()];
        if let Some(current) = &m.image {
            if current == image && m.write_protected == write_protected {
                return Ok(Ack::Unchanged);
            }
            return Err(MachineError::MediaSlotBusy { slot });
        }
        *m = VirtualMedia {
            image: Some(image.to_string()),
            write_protected,
            connected: true,
        };
        self.push(MachineEvent::MediaChanged {
            at: now,
            slot,
            image: Some(image.to_string()),
        });
        Ok(Ack::Started)
    }

    /// Ejects a slot's image.
    pub fn eject_media(&mut self, now: SimTime, slot: MediaSlot) -> Ack {
        self.tick(now);
        let m = &mut self.media[slot.index()];
        if m.image.is_none() {
            return Ack::Unchanged;
        }
        *m = VirtualMedia::default();
        self.push(MachineEvent::MediaChanged {
            at: now,
            slot,
            image: None,
        });
        Ack::Started
    }

    // ----- disks (written by the agent running in a ramdisk) -----

    /// Writes an image to disk `index` (with a partition table), without a config drive.
    pub fn write_image(
        &mut self,
        now: SimTime,
        index: usize,
        url: &str,
        checksum: &str,
    ) -> Result<Ack, MachineError> {
        self.write_image_with(now, index, url, checksum, None)
    }

    /// Writes an image to disk `index` (with a partition table) and the config drive beside it.
    pub fn write_image_with(
        &mut self,
        now: SimTime,
        index: usize,
        url: &str,
        checksum: &str,
        config_drive: Option<ConfigDrive>,
    ) -> Result<Ack, MachineError> {
        self.tick(now);
        let disk = self.disk_mut(index)?;
        disk.image = Some(WrittenImage {
            url: url.to_string(),
            checksum: checksum.to_string(),
            config_drive,
        });
        disk.partition_table = true;
        let name = disk.name.clone();
        self.push(MachineEvent::DiskChanged {
            at: now,
            disk: name,
            bootable: true,
        });
        Ok(Ack::Started)
    }

    /// Removes the partition table of disk `index` (metadata cleaning): the disk stops being bootable.
    pub fn wipe_partition_table(
        &mut self,
        now: SimTime,
        index: usize,
    ) -> Result<Ack, MachineError> {
        self.tick(now);
        let disk = self.disk_mut(index)?;
        if !disk.partition_table {
            return Ok(Ack::Unchanged);
        }
        disk.partition_table = false;
        let name = disk.name.clone();
        self.push(MachineEvent::DiskChanged {
            at: now,
            disk: name,
            bootable: false,
        });
        Ok(Ack::Started)
    }

    /// Erases disk `index` entirely (image and partition table).
    pub fn erase_disk(&mut self, now: SimTime, index: usize) -> Result<Ack, MachineError> {
        self.tick(now);
        let disk = self.disk_mut(index)?;
        if disk.image.is_none() && !disk.partition_table {
            return Ok(Ack::Unchanged);
        }
        disk.image = None;
        disk.partition_table = false;
        let name = disk.name.clone();
        self.push(MachineEvent::DiskChanged {
            at: now,
            disk: name,
            bootable: false,
        });
        Ok(Ack::Started)
    }

    // ----- hardware RAID (the BMC's storage controller) -----

    /// Builds a RAID volume now; a request refused in any part changes nothing.
    pub fn create_volume(
        &mut self,
        now: SimTime,
        request: VolumeRequest,
    ) -> Result<Volume, MachineError> {
        self.tick(now);
        self.raid
            .create(request)
            .cloned()
            .map_err(MachineError::RaidRefused)
    }

    /// Deletes RAID volume `id` now, freeing its drives.
    pub fn delete_volume(&mut self, now: SimTime, id: u64) -> Result<Volume, MachineError> {
        self.tick(now);
        self.raid.delete(id).map_err(MachineError::RaidRefused)
    }

    fn disk_mut(&mut self, index: usize) -> Result<&mut DiskContents, MachineError> {
        let count = self.disks.len();
        self.disks
            .get_mut(index)
            .ok_or(MachineError::NoSuchDisk { index, count })
    }
}
