//! How the client reads a BMC's answers: pure functions from the received bytes (and what the
//! client expects) to a value or a refusal, so the same code the client runs on every datagram
//! can be driven without a socket (the fuzz targets in `fuzz-targets/` do).

use super::super::command::BootFlags;
use super::super::crypto::SessionKeys;
use super::super::message::Response;
use super::super::packet::{self, Datagram, PayloadType};
use super::ChassisStatus;

/// Why a handshake answer was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The BMC answered with a non-zero RMCP+ status code.
    Refused(u8),
    /// The answer is too short, too long, or does not match the request.
    Malformed,
}

/// The payload of a handshake answer of type `expect` carrying message tag `tag`; `None` for
/// any other datagram (the client keeps waiting).
pub fn handshake(bytes: &[u8], expect: PayloadType, tag: u8) -> Option<Vec<u8>> {
    match packet::decode(bytes) {
        Ok(Datagram::V20(p)) if p.payload_type == expect && p.payload.first() == Some(&tag) => {
            Some(p.payload.to_vec())
        }
        _ => None,
    }
}

/// The response to pre-session command `cmd` sent with sequence `seq`; `None` for anything else.
pub fn pre_session(bytes: &[u8], seq: u8, cmd: u8) -> Option<Response> {
    let Ok(Datagram::V15(p)) = packet::decode(bytes) else {
        return None;
    };
    let resp = Response::decode(p.message).ok()?;
    (resp.rq_seq == seq && resp.cmd == cmd).then_some(resp)
}

/// The response to in-session command `cmd` sent with sequence `seq`, after its integrity code
/// is verified and its payload decrypted with `keys`; `None` for anything else.
pub fn in_session(keys: &SessionKeys, bytes: &[u8], seq: u8, cmd: u8) -> Option<Response> {
    let Ok(Datagram::V20(p)) = packet::decode(bytes) else {
        return None;
    };
    if p.payload_type != PayloadType::Ipmi {
        return None;
    }
    let code_len = keys.suite().integrity.code_len();
    if code_len > 0 {
        let (signed, code) = p.signed_parts(code_len).ok()?;
        keys.verify(signed, code).ok()?;
    }
    let plain = keys.decrypt(p.payload).ok()?;
    let r = Response::decode(&plain).ok()?;
    (r.rq_seq == seq && r.cmd == cmd).then_some(r)
}

fn status(r: &[u8]) -> Result<(), ReplyError> {
    match r.get(1) {
        Some(0) => Ok(()),
        Some(&code) => Err(ReplyError::Refused(code)),
        None => Err(ReplyError::Refused(0xFF)),
    }
}

/// Whether Get Channel Authentication Capabilities data says IPMI 2.0 is supported.
pub fn supports_ipmi20(caps: &[u8]) -> bool {
    caps.len() >= 4 && caps[3] & 0x02 != 0
}

/// The BMC's session ID from an Open Session Response to `console_id`.
pub fn open_session(r: &[u8], console_id: u32) -> Result<u32, ReplyError> {
    status(r)?;
    if r.len() < 36 || r[4..8] != console_id.to_le_bytes() {
        return Err(ReplyError::Malformed);
    }
    Ok(u32::from_le_bytes([r[8], r[9], r[10], r[11]]))
}

/// What RAKP 2 carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rakp2 {
    /// The BMC's random number.
    pub bmc_random: [u8; 16],
    /// The BMC's GUID.
    pub bmc_guid: [u8; 16],
    /// The key exchange authentication code (to check against the password).
    pub code: Vec<u8>,
}

/// Reads RAKP 2 for an authentication algorithm whose code is `code_len` bytes.
pub fn rakp2(r: &[u8], code_len: usize) -> Result<Rakp2, ReplyError> {
    status(r)?;
    if r.len() != 40 + code_len {
        return Err(ReplyError::Malformed);
    }
    let mut bmc_random = [0u8; 16];
    bmc_random.copy_from_slice(&r[8..24]);
    let mut bmc_guid = [0u8; 16];
    bmc_guid.copy_from_slice(&r[24..40]);
    Ok(Rakp2 {
        bmc_random,
        bmc_guid,
        code: r[40..].to_vec(),
    })
}

/// The integrity check value of RAKP 4 when it is `icv_len` bytes long.
pub fn rakp4(r: &[u8], icv_len: usize) -> Result<&[u8], ReplyError> {
    status(r)?;
    if r.len() != 8 + icv_len {
        return Err(ReplyError::Malformed);
    }
    Ok(&r[8..])
}

/// Get Chassis Status response data.
pub fn chassis_status(d: &[u8]) -> Option<ChassisStatus> {
    let [power, last_event, misc, ..] = *d else {
        return None;
    };
    Some(ChassisStatus {
        power_on: power & 1 != 0,
        power_state: power,
        last_event,
        misc,
    })
}

/// Get System Boot Options (parameter 5) response data.
pub fn boot_flags(d: &[u8]) -> Option<BootFlags> {
    let [_, _, flags, device, ..] = *d else {
        return None;
    };
    Some(BootFlags {
        valid: flags & 0x80 != 0,
        persistent: flags & 0x40 != 0,
        efi: flags & 0x20 != 0,
        device: (device >> 2) & 0x0F,
    })
}

/// Get System GUID response data (wire order).
pub fn system_guid(d: &[u8]) -> Option<[u8; 16]> {
    d.try_into().ok()
}
