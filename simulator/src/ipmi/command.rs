//! The IPMI commands a BMC answers inside a session: App (Get Device ID, Get System GUID) and
//! Chassis (status, control, system boot options). Session-level commands live in [`super::bmc`].
//!
//! The machine is reached through the [`Chassis`] trait, so handlers stay pure and testable.

use super::message::{Request, completion, netfn};
use super::session::Privilege;

/// App command numbers.
pub mod app_cmd {
    /// Get Device ID.
    pub const GET_DEVICE_ID: u8 = 0x01;
    /// Get Self Test Results.
    pub const GET_SELF_TEST_RESULTS: u8 = 0x04;
    /// Get System GUID.
    pub const GET_SYSTEM_GUID: u8 = 0x37;
    /// Get Channel Authentication Capabilities.
    pub const GET_CHANNEL_AUTH_CAPABILITIES: u8 = 0x38;
    /// Set Session Privilege Level.
    pub const SET_SESSION_PRIVILEGE: u8 = 0x3B;
    /// Close Session.
    pub const CLOSE_SESSION: u8 = 0x3C;
    /// Get Channel Access.
    pub const GET_CHANNEL_ACCESS: u8 = 0x41;
    /// Get Channel Info.
    pub const GET_CHANNEL_INFO: u8 = 0x42;
    /// Get Channel Cipher Suites.
    pub const GET_CHANNEL_CIPHER_SUITES: u8 = 0x54;
}

/// Chassis command numbers.
pub mod chassis_cmd {
    /// Get Chassis Status.
    pub const GET_STATUS: u8 = 0x01;
    /// Chassis Control.
    pub const CONTROL: u8 = 0x02;
    /// Set System Boot Options.
    pub const SET_BOOT_OPTIONS: u8 = 0x08;
    /// Get System Boot Options.
    pub const GET_BOOT_OPTIONS: u8 = 0x09;
}

/// Chassis Control actions (request byte 1, bits 3:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChassisControl {
    /// 0: power down (hard off).
    PowerDown,
    /// 1: power up.
    PowerUp,
    /// 2: power cycle.
    PowerCycle,
    /// 3: hard reset.
    HardReset,
    /// 4: pulse diagnostic interrupt (NMI).
    DiagnosticInterrupt,
    /// 5: soft shutdown via ACPI.
    SoftShutdown,
}

impl ChassisControl {
    /// Parses the request byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b & 0x0F {
            0 => Self::PowerDown,
            1 => Self::PowerUp,
            2 => Self::PowerCycle,
            3 => Self::HardReset,
            4 => Self::DiagnosticInterrupt,
            5 => Self::SoftShutdown,
            _ => return None,
        })
    }

    /// The request byte.
    pub fn byte(self) -> u8 {
        self as u8
    }
}

/// Boot device selector values of boot flags data 2, bits 5:2.
pub mod boot_device {
    /// No override.
    pub const NONE: u8 = 0x0;
    /// Force PXE.
    pub const PXE: u8 = 0x1;
    /// Force boot from default hard drive.
    pub const DISK: u8 = 0x2;
    /// Force boot from default hard drive, request safe mode.
    pub const DISK_SAFE: u8 = 0x3;
    /// Force boot from default CD/DVD.
    pub const CD: u8 = 0x5;
    /// Force boot into BIOS setup.
    pub const BIOS_SETUP: u8 = 0x6;
    /// Force boot from remotely connected floppy / primary removable media.
    pub const REMOTE_FLOPPY: u8 = 0x7;
    /// Force boot from remotely connected CD/DVD.
    pub const REMOTE_CD: u8 = 0x8;
    /// Force boot from remotely connected hard drive.
    pub const REMOTE_DISK: u8 = 0xB;
    /// Force boot from floppy / primary removable media.
    pub const FLOPPY: u8 = 0xF;
}

/// The boot flags (parameter 5) the machine honours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BootFlags {
    /// Bit 7 of data 1: the flags are valid (an override is set).
    pub valid: bool,
    /// Bit 6: all future boots (persistent) rather than the next boot only.
    pub persistent: bool,
    /// Bit 5: EFI boot rather than PC-compatible (legacy).
    pub efi: bool,
    /// Boot device selector (see [`boot_device`]).
    pub device: u8,
}

impl BootFlags {
    /// Data byte 1 of parameter 5.
    pub fn data1(self) -> u8 {
        (u8::from(self.valid) << 7) | (u8::from(self.persistent) << 6) | (u8::from(self.efi) << 5)
    }
}

/// Why the chassis refused an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A transition is in progress: the console should retry (0xC0).
    Busy,
    /// Not possible in the present power state (0xD5).
    NotInPresentState,
    /// The chassis cannot do this at all (0xCC).
    Unsupported,
}

impl Refusal {
    fn completion(self) -> u8 {
        match self {
            Self::Busy => completion::NODE_BUSY,
            Self::NotInPresentState => completion::NOT_SUPPORTED_IN_STATE,
            Self::Unsupported => completion::INVALID_DATA_FIELD,
        }
    }
}

/// The machine as a BMC sees it.
pub trait Chassis {
    /// Whether system power is on.
    fn power_is_on(&mut self) -> bool;
    /// Performs a Chassis Control action.
    fn control(&mut self, action: ChassisControl) -> Result<(), Refusal>;
    /// The boot flags as the firmware would honour them now.
    fn boot_flags(&mut self) -> BootFlags;
    /// Sets the boot override from boot flags.
    fn set_boot_flags(&mut self, flags: BootFlags) -> Result<(), Refusal>;
}

/// Get Device ID answer fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Device ID.
    pub device_id: u8,
    /// Device revision (bits 3:0).
    pub device_revision: u8,
    /// Firmware major revision (7 bits).
    pub firmware_major: u8,
    /// Firmware minor revision (two BCD digits).
    pub firmware_minor_bcd: u8,
    /// IANA manufacturer ID (20 bits).
    pub manufacturer_id: u32,
    /// Product ID.
    pub product_id: u16,
    /// Auxiliary firmware revision.
    pub aux_firmware: [u8; 4],
}

impl Default for DeviceIdentity {
    fn default() -> Self {
        Self {
            device_id: 0x20,
            device_revision: 0x01,
            firmware_major: 2,
            firmware_minor_bcd: 0x10,
            manufacturer_id: 0,
            product_id: 0x0001,
            aux_firmware: [0; 4],
        }
    }
}

/// Boot options state the BMC keeps itself (everything but the override the machine owns).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootOptionsState {
    /// Parameter 0: 0 set complete, 1 set in progress.
    pub set_in_progress: u8,
    /// Parameter 3: BMC boot flag valid bit clearing.
    pub valid_bit_clearing: u8,
    /// Parameter 4: boot info acknowledge data.
    pub info_ack: u8,
    /// Parameter 5 bits not modelled by the machine: data 2 bits 7:6 and 1:0, data 3–5.
    pub extra: [u8; 4],
}

/// What a command handler needs.
pub struct Context<'a> {
    /// Privilege of the session the request came in.
    pub privilege: Privilege,
    /// The machine.
    pub chassis: &'a mut dyn Chassis,
    /// Get Device ID answer.
    pub identity: &'a DeviceIdentity,
    /// System GUID in wire order.
    pub guid: [u8; 16],
    /// BMC-side boot options state.
    pub boot: &'a mut BootOptionsState,
}

/// Runs one in-session command; returns the completion code and response data.
pub fn execute(req: &Request, ctx: &mut Context<'_>) -> (u8, Vec<u8>) {
    let needed = match (req.netfn, req.cmd) {
        (
            netfn::APP,
            app_cmd::GET_DEVICE_ID | app_cmd::GET_SYSTEM_GUID | app_cmd::GET_SELF_TEST_RESULTS,
        ) => Privilege::User,
        (netfn::CHASSIS, chassis_cmd::GET_STATUS | chassis_cmd::GET_BOOT_OPTIONS) => {
            Privilege::User
        }
        (netfn::CHASSIS, chassis_cmd::CONTROL | chassis_cmd::SET_BOOT_OPTIONS) => {
            Privilege::Operator
        }
        _ => return (completion::INVALID_COMMAND, Vec::new()),
    };
    if ctx.privilege < needed {
        return (completion::INSUFFICIENT_PRIVILEGE, Vec::new());
    }
    match (req.netfn, req.cmd) {
        (netfn::APP, app_cmd::GET_DEVICE_ID) => ok(device_id(ctx.identity)),
        // 0x55: no error; the simulated BMC has no failing self test.
        (netfn::APP, app_cmd::GET_SELF_TEST_RESULTS) => ok(vec![0x55, 0x00]),
        (netfn::APP, _) => ok(ctx.guid.to_vec()),
        (_, chassis_cmd::GET_STATUS) => ok(chassis_status(ctx.chassis.power_is_on())),
        (_, chassis_cmd::CONTROL) => chassis_control(&req.data, ctx.chassis),
        (_, chassis_cmd::SET_BOOT_OPTIONS) => set_boot_options(&req.data, ctx),
        _ => get_boot_options(&req.data, ctx),
    }
}

fn ok(data: Vec<u8>) -> (u8, Vec<u8>) {
    (completion::OK, data)
}

fn fail(code: u8) -> (u8, Vec<u8>) {
    (code, Vec::new())
}

fn device_id(d: &DeviceIdentity) -> Vec<u8> {
    let m = d.manufacturer_id.to_le_bytes();
    let p = d.product_id.to_le_bytes();
    let mut out = vec![
        d.device_id,
        d.device_revision & 0x0F,
        d.firmware_major & 0x7F, // bit 7 clear: device available
        d.firmware_minor_bcd,
        0x02, // IPMI version 2.0 (BCD, reversed nibbles)
        0x80, // additional device support: chassis device
        m[0],
        m[1],
        m[2] & 0x0F,
        p[0],
        p[1],
    ];
    out.extend(d.aux_firmware);
    out
}

fn chassis_status(on: bool) -> Vec<u8> {
    // Restore policy "previous" (bits 6:5 = 01); no faults, no intrusion, no front panel lockout.
    vec![u8::from(on) | 0x20, 0x00, 0x00, 0x00]
}

fn chassis_control(data: &[u8], chassis: &mut dyn Chassis) -> (u8, Vec<u8>) {
    if data.len() != 1 {
        return fail(completion::REQUEST_LENGTH_INVALID);
    }
    let Some(action) = ChassisControl::from_byte(data[0]) else {
        return fail(completion::INVALID_DATA_FIELD);
    };
    match chassis.control(action) {
        Ok(()) => ok(Vec::new()),
        Err(r) => fail(r.completion()),
    }
}

fn set_boot_options(data: &[u8], ctx: &mut Context<'_>) -> (u8, Vec<u8>) {
    let Some((&selector, value)) = data.split_first() else {
        return fail(completion::REQUEST_LENGTH_INVALID);
    };
    let need = |n: usize| {
        if value.len() == n {
            Ok(())
        } else {
            Err(fail(completion::REQUEST_LENGTH_INVALID))
        }
    };
    let param = selector & 0x7F;
    let result = match param {
        0 => need(1).and_then(|()| {
            let v = value[0] & 0x03;
            match v {
                1 if ctx.boot.set_in_progress == 1 => Err(fail(completion::SPECIFIC_81)),
                3 => Err(fail(completion::INVALID_DATA_FIELD)),
                // "Commit write" has nothing to commit: writes take effect at once.
                2 => {
                    ctx.boot.set_in_progress = 0;
                    Ok(())
                }
                _ => {
                    ctx.boot.set_in_progress = v;
                    Ok(())
                }
            }
        }),
        3 => need(1).map(|()| ctx.boot.valid_bit_clearing = value[0] & 0x1F),
        4 => need(2).map(|()| {
            let mask = value[0];
            ctx.boot.info_ack = (ctx.boot.info_ack & !mask) | (value[1] & mask);
        }),
        5 => need(5).and_then(|()| {
            let flags = BootFlags {
                valid: value[0] & 0x80 != 0,
                persistent: value[0] & 0x40 != 0,
                efi: value[0] & 0x20 != 0,
                device: (value[1] >> 2) & 0x0F,
            };
            ctx.chassis
                .set_boot_flags(flags)
                .map_err(|r| fail(r.completion()))?;
            ctx.boot.extra = [value[1] & 0xC3, value[2], value[3], value[4]];
            Ok(())
        }),
        _ => Err(fail(completion::SPECIFIC_80)),
    };
    match result {
        Ok(()) => ok(Vec::new()),
        Err(e) => e,
    }
}

fn get_boot_options(data: &[u8], ctx: &mut Context<'_>) -> (u8, Vec<u8>) {
    if data.len() != 3 {
        return fail(completion::REQUEST_LENGTH_INVALID);
    }
    let param = data[0] & 0x7F;
    let body: Vec<u8> = match param {
        0 => vec![ctx.boot.set_in_progress],
        3 => vec![ctx.boot.valid_bit_clearing],
        4 => vec![0x00, ctx.boot.info_ack],
        5 => {
            let f = ctx.chassis.boot_flags();
            let e = ctx.boot.extra;
            vec![f.data1(), (f.device << 2) | e[0], e[1], e[2], e[3]]
        }
        _ => return fail(completion::SPECIFIC_80),
    };
    // Parameter version 1; bit 7 of the selector clear: valid / unlocked.
    let mut out = vec![0x01, param];
    out.extend(body);
    ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chassis that records what it was asked, for handler tests without the machine model.
    #[derive(Default)]
    struct Recorder {
        on: bool,
        flags: BootFlags,
        actions: Vec<ChassisControl>,
    }

    impl Chassis for Recorder {
        fn power_is_on(&mut self) -> bool {
            self.on
        }
        fn control(&mut self, action: ChassisControl) -> Result<(), Refusal> {
            if action == ChassisControl::PowerCycle && !self.on {
                return Err(Refusal::NotInPresentState);
            }
            self.actions.push(action);
            self.on = !matches!(
                action,
                ChassisControl::PowerDown | ChassisControl::SoftShutdown
            );
            Ok(())
        }
        fn boot_flags(&mut self) -> BootFlags {
            self.flags
        }
        fn set_boot_flags(&mut self, flags: BootFlags) -> Result<(), Refusal> {
            self.flags = flags;
            Ok(())
        }
    }

    fn run(
        chassis: &mut Recorder,
        boot: &mut BootOptionsState,
        p: Privilege,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> (u8, Vec<u8>) {
        let identity = DeviceIdentity::default();
        let mut ctx = Context {
            privilege: p,
            chassis,
            identity: &identity,
            guid: [7; 16],
            boot,
        };
        execute(&Request::new(netfn, cmd, 1, data.to_vec()), &mut ctx)
    }

    #[test]
    fn unknown_commands_answer_invalid_command() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        assert_eq!(
            run(&mut c, &mut b, Privilege::Administrator, 0x0A, 0x20, &[]).0,
            completion::INVALID_COMMAND
        );
        assert_eq!(
            run(
                &mut c,
                &mut b,
                Privilege::Administrator,
                netfn::APP,
                0x99,
                &[]
            )
            .0,
            completion::INVALID_COMMAND
        );
    }

    #[test]
    fn chassis_control_needs_operator_privilege() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let r = run(
            &mut c,
            &mut b,
            Privilege::User,
            netfn::CHASSIS,
            chassis_cmd::CONTROL,
            &[1],
        );
        assert_eq!(r.0, completion::INSUFFICIENT_PRIVILEGE);
        assert!(c.actions.is_empty());
        let r = run(
            &mut c,
            &mut b,
            Privilege::Operator,
            netfn::CHASSIS,
            chassis_cmd::CONTROL,
            &[1],
        );
        assert_eq!(r, (0, vec![]));
        assert_eq!(c.actions, [ChassisControl::PowerUp]);
    }

    #[test]
    fn chassis_status_reports_the_power_bit() {
        let (mut c, mut b) = (
            Recorder {
                on: true,
                ..Default::default()
            },
            BootOptionsState::default(),
        );
        let (cc, data) = run(
            &mut c,
            &mut b,
            Privilege::User,
            netfn::CHASSIS,
            chassis_cmd::GET_STATUS,
            &[],
        );
        assert_eq!(cc, 0);
        assert_eq!(data[0] & 1, 1);
    }

    #[test]
    fn power_cycle_while_off_is_not_supported_in_present_state() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let r = run(
            &mut c,
            &mut b,
            Privilege::Administrator,
            netfn::CHASSIS,
            chassis_cmd::CONTROL,
            &[2],
        );
        assert_eq!(r.0, completion::NOT_SUPPORTED_IN_STATE);
    }

    #[test]
    fn boot_flags_set_persistent_efi_pxe_read_back_identically() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let set = [0x05, 0xE0, 0x04, 0x00, 0x00, 0x00];
        assert_eq!(
            run(
                &mut c,
                &mut b,
                Privilege::Operator,
                netfn::CHASSIS,
                chassis_cmd::SET_BOOT_OPTIONS,
                &set
            )
            .0,
            0
        );
        assert_eq!(
            c.flags,
            BootFlags {
                valid: true,
                persistent: true,
                efi: true,
                device: boot_device::PXE
            }
        );
        let (cc, data) = run(
            &mut c,
            &mut b,
            Privilege::User,
            netfn::CHASSIS,
            chassis_cmd::GET_BOOT_OPTIONS,
            &[5, 0, 0],
        );
        assert_eq!((cc, data), (0, vec![0x01, 0x05, 0xE0, 0x04, 0, 0, 0]));
    }

    #[test]
    fn valid_bit_clearing_and_boot_info_acknowledge_are_stored() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let set = |c: &mut Recorder, b: &mut BootOptionsState, d: &[u8]| {
            run(
                c,
                b,
                Privilege::Operator,
                netfn::CHASSIS,
                chassis_cmd::SET_BOOT_OPTIONS,
                d,
            )
            .0
        };
        assert_eq!(set(&mut c, &mut b, &[3, 0x08]), 0);
        assert_eq!(set(&mut c, &mut b, &[4, 0x01, 0x01]), 0);
        assert_eq!((b.valid_bit_clearing, b.info_ack), (0x08, 0x01));
        let (cc, data) = run(
            &mut c,
            &mut b,
            Privilege::User,
            netfn::CHASSIS,
            chassis_cmd::GET_BOOT_OPTIONS,
            &[3, 0, 0],
        );
        assert_eq!((cc, data), (0, vec![0x01, 0x03, 0x08]));
    }

    #[test]
    fn set_in_progress_twice_is_refused_and_commit_completes_it() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let set = |c: &mut Recorder, b: &mut BootOptionsState, v: u8| {
            run(
                c,
                b,
                Privilege::Operator,
                netfn::CHASSIS,
                chassis_cmd::SET_BOOT_OPTIONS,
                &[0, v],
            )
            .0
        };
        assert_eq!(set(&mut c, &mut b, 1), 0);
        assert_eq!(set(&mut c, &mut b, 1), completion::SPECIFIC_81);
        assert_eq!(set(&mut c, &mut b, 2), 0);
        assert_eq!(b.set_in_progress, 0);
    }

    #[test]
    fn unsupported_boot_parameters_and_bad_lengths_get_their_codes() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let r = run(
            &mut c,
            &mut b,
            Privilege::Operator,
            netfn::CHASSIS,
            chassis_cmd::SET_BOOT_OPTIONS,
            &[7, 1],
        );
        assert_eq!(r.0, completion::SPECIFIC_80);
        let r = run(
            &mut c,
            &mut b,
            Privilege::Operator,
            netfn::CHASSIS,
            chassis_cmd::SET_BOOT_OPTIONS,
            &[5, 0x80],
        );
        assert_eq!(r.0, completion::REQUEST_LENGTH_INVALID);
        let r = run(
            &mut c,
            &mut b,
            Privilege::User,
            netfn::CHASSIS,
            chassis_cmd::GET_BOOT_OPTIONS,
            &[5],
        );
        assert_eq!(r.0, completion::REQUEST_LENGTH_INVALID);
    }

    #[test]
    fn device_id_announces_ipmi_2_0() {
        let (mut c, mut b) = (Recorder::default(), BootOptionsState::default());
        let (cc, data) = run(
            &mut c,
            &mut b,
            Privilege::User,
            netfn::APP,
            app_cmd::GET_DEVICE_ID,
            &[],
        );
        assert_eq!(cc, 0);
        assert_eq!(data.len(), 15);
        assert_eq!(data[4], 0x02);
    }
}
