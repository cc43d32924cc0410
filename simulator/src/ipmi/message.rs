//! IPMI LAN messages (IPMI v2.0 §13.8): addresses, NetFn/LUN, sequence, command, data, two checksums;
//! plus the network function and completion code numbers the BMC and the client share.

use super::packet::DecodeError;

/// Network functions (requests; the response NetFn is one higher).
pub mod netfn {
    /// Chassis.
    pub const CHASSIS: u8 = 0x00;
    /// Application.
    pub const APP: u8 = 0x06;
}

/// Completion codes (IPMI v2.0 §5.2).
pub mod completion {
    /// Command completed normally.
    pub const OK: u8 = 0x00;
    /// Command-specific: boot option parameter not supported / privilege level not available.
    pub const SPECIFIC_80: u8 = 0x80;
    /// Command-specific: set already in progress / level not available for this user.
    pub const SPECIFIC_81: u8 = 0x81;
    /// Command-specific: requested level exceeds the limit.
    pub const SPECIFIC_82: u8 = 0x82;
    /// Command-specific: invalid session ID.
    pub const SPECIFIC_87: u8 = 0x87;
    /// Node busy: retry.
    pub const NODE_BUSY: u8 = 0xC0;
    /// Invalid command.
    pub const INVALID_COMMAND: u8 = 0xC1;
    /// Request data length invalid.
    pub const REQUEST_LENGTH_INVALID: u8 = 0xC7;
    /// Parameter out of range.
    pub const PARAMETER_OUT_OF_RANGE: u8 = 0xC9;
    /// Invalid data field in request.
    pub const INVALID_DATA_FIELD: u8 = 0xCC;
    /// Insufficient privilege level.
    pub const INSUFFICIENT_PRIVILEGE: u8 = 0xD4;
    /// Command not supported in present state.
    pub const NOT_SUPPORTED_IN_STATE: u8 = 0xD5;
    /// Unspecified error.
    pub const UNSPECIFIED: u8 = 0xFF;
}

/// The BMC's slave address.
pub const BMC_ADDRESS: u8 = 0x20;
/// The remote console's software ID as used on LAN.
pub const CONSOLE_ADDRESS: u8 = 0x81;

/// A decoded IPMI request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Responder address.
    pub rs_addr: u8,
    /// Network function.
    pub netfn: u8,
    /// Responder LUN.
    pub rs_lun: u8,
    /// Requester address.
    pub rq_addr: u8,
    /// Requester sequence number (6 bits).
    pub rq_seq: u8,
    /// Requester LUN.
    pub rq_lun: u8,
    /// Command number.
    pub cmd: u8,
    /// Request data.
    pub data: Vec<u8>,
}

/// A decoded IPMI response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Response network function (request NetFn + 1).
    pub netfn: u8,
    /// Requester sequence number echoed.
    pub rq_seq: u8,
    /// Command number echoed.
    pub cmd: u8,
    /// Completion code.
    pub completion: u8,
    /// Response data after the completion code.
    pub data: Vec<u8>,
}

/// Two's-complement checksum: the bytes plus the checksum sum to zero.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
}

fn frame(a: u8, netfn_lun: u8, b: u8, seq_lun: u8, cmd: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + body.len());
    out.extend([a, netfn_lun, checksum(&[a, netfn_lun]), b, seq_lun, cmd]);
    out.extend(body);
    let c2 = checksum(&out[3..]);
    out.push(c2);
    out
}

fn unframe(bytes: &[u8], min: usize) -> Result<(), DecodeError> {
    if bytes.len() < min {
        return Err(DecodeError::Truncated {
            what: "IPMI message",
            len: bytes.len(),
            need: min,
        });
    }
    if checksum(&bytes[..2]) != bytes[2] {
        return Err(DecodeError::Checksum("header"));
    }
    let n = bytes.len();
    if checksum(&bytes[3..n - 1]) != bytes[n - 1] {
        return Err(DecodeError::Checksum("data"));
    }
    Ok(())
}

impl Request {
    /// A request from the remote console to the BMC.
    pub fn new(netfn: u8, cmd: u8, rq_seq: u8, data: Vec<u8>) -> Self {
        Self {
            rs_addr: BMC_ADDRESS,
            netfn,
            rs_lun: 0,
            rq_addr: CONSOLE_ADDRESS,
            rq_seq,
            rq_lun: 0,
            cmd,
            data,
        }
    }

    /// Decodes a request, checking both checksums.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        unframe(bytes, 7)?;
        Ok(Self {
            rs_addr: bytes[0],
            netfn: bytes[1] >> 2,
            rs_lun: bytes[1] & 0x03,
            rq_addr: bytes[3],
            rq_seq: bytes[4] >> 2,
            rq_lun: bytes[4] & 0x03,
            cmd: bytes[5],
            data: bytes[6..bytes.len() - 1].to_vec(),
        })
    }

    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        frame(
            self.rs_addr,
            (self.netfn << 2) | (self.rs_lun & 3),
            self.rq_addr,
            ((self.rq_seq & 0x3F) << 2) | (self.rq_lun & 3),
            self.cmd,
            &self.data,
        )
    }

    /// Encodes the response to this request.
    pub fn respond(&self, completion: u8, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(1 + data.len());
        body.push(completion);
        body.extend(data);
        frame(
            self.rq_addr,
            ((self.netfn | 1) << 2) | (self.rq_lun & 3),
            self.rs_addr,
            ((self.rq_seq & 0x3F) << 2) | (self.rs_lun & 3),
            self.cmd,
            &body,
        )
    }
}

impl Response {
    /// Decodes a response, checking both checksums.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        unframe(bytes, 8)?;
        Ok(Self {
            netfn: bytes[1] >> 2,
            rq_seq: bytes[4] >> 2,
            cmd: bytes[5],
            completion: bytes[6],
            data: bytes[7..bytes.len() - 1].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_device_id_request_matches_the_known_wire_bytes() {
        // rsAddr 20, NetFn App (06<<2 = 18), chk1 c8, rqAddr 81, seq 1 (04), cmd 01, chk2 7a.
        let r = Request::new(netfn::APP, 0x01, 1, vec![]);
        assert_eq!(r.encode(), [0x20, 0x18, 0xC8, 0x81, 0x04, 0x01, 0x7A]);
        assert_eq!(Request::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn response_echoes_sequence_and_command_with_response_netfn() {
        let r = Request::new(netfn::CHASSIS, 0x01, 9, vec![]);
        let resp = Response::decode(&r.respond(completion::OK, &[0x01, 0, 0x40])).unwrap();
        assert_eq!(
            (resp.netfn, resp.rq_seq, resp.cmd, resp.completion),
            (0x01, 9, 0x01, 0)
        );
        assert_eq!(resp.data, [0x01, 0, 0x40]);
    }

    #[test]
    fn a_bad_checksum_is_rejected() {
        let mut b = Request::new(netfn::APP, 0x01, 1, vec![5]).encode();
        let n = b.len();
        b[n - 1] ^= 1;
        assert_eq!(Request::decode(&b), Err(DecodeError::Checksum("data")));
        b[2] ^= 1;
        assert_eq!(Request::decode(&b), Err(DecodeError::Checksum("header")));
    }
}
