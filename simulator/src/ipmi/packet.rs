//! Datagram framing: the RMCP header, ASF presence ping/pong, and the IPMI v1.5 and v2.0 (RMCP+)
//! session wrappers with the integrity trailer (IPMI v2.0 §13.5–13.8, DSP0136 for ASF).
//!
//! Pure encode/decode; keys only enter through [`SessionKeys`] when a packet is signed.

use thiserror::Error;

use super::crypto::SessionKeys;

/// RMCP version 1.0 as carried on the wire.
pub const RMCP_VERSION: u8 = 0x06;
/// RMCP sequence number meaning "no RMCP ACK wanted" (always used for IPMI).
pub const RMCP_SEQ_NO_ACK: u8 = 0xFF;
/// RMCP message class ASF.
pub const CLASS_ASF: u8 = 0x06;
/// RMCP message class IPMI.
pub const CLASS_IPMI: u8 = 0x07;
/// ASF's IANA enterprise number (4542).
pub const ASF_IANA: u32 = 0x0000_11BE;
/// ASF message type: Presence Ping.
pub const ASF_PRESENCE_PING: u8 = 0x80;
/// ASF message type: Presence Pong.
pub const ASF_PRESENCE_PONG: u8 = 0x40;
/// Session authentication type "none" (IPMI v1.5 header).
pub const AUTH_TYPE_NONE: u8 = 0x00;
/// Session authentication type "RMCP+" (IPMI v2.0 header).
pub const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;
/// The "next header" byte of an integrity trailer.
pub const NEXT_HEADER: u8 = 0x07;

/// RMCP+ payload types (IPMI v2.0 table 13-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PayloadType {
    /// An IPMI message.
    Ipmi = 0x00,
    /// Serial over LAN.
    Sol = 0x01,
    /// RMCP+ Open Session Request.
    OpenSessionRequest = 0x10,
    /// RMCP+ Open Session Response.
    OpenSessionResponse = 0x11,
    /// RAKP Message 1.
    Rakp1 = 0x12,
    /// RAKP Message 2.
    Rakp2 = 0x13,
    /// RAKP Message 3.
    Rakp3 = 0x14,
    /// RAKP Message 4.
    Rakp4 = 0x15,
}

impl PayloadType {
    /// Parses the low six bits of the payload type byte.
    pub fn from_bits(b: u8) -> Option<Self> {
        Some(match b & 0x3F {
            0x00 => Self::Ipmi,
            0x01 => Self::Sol,
            0x10 => Self::OpenSessionRequest,
            0x11 => Self::OpenSessionResponse,
            0x12 => Self::Rakp1,
            0x13 => Self::Rakp2,
            0x14 => Self::Rakp3,
            0x15 => Self::Rakp4,
            _ => return None,
        })
    }
}

/// Why a datagram (or a message inside it) could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {what}: {len} bytes, need {need}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The RMCP version byte is not 0x06.
    #[error("unsupported RMCP version {0:#04x}")]
    RmcpVersion(u8),
    /// The RMCP class is neither ASF nor IPMI (or asks for an RMCP ACK).
    #[error("unsupported RMCP class {0:#04x}")]
    RmcpClass(u8),
    /// ASF message from another enterprise.
    #[error("unsupported ASF enterprise {0}")]
    AsfEnterprise(u32),
    /// An IPMI session authentication type we do not speak.
    #[error("unsupported session authentication type {0:#04x}")]
    AuthType(u8),
    /// An RMCP+ payload type we do not speak (including OEM explicit).
    #[error("unsupported payload type {0:#04x}")]
    PayloadType(u8),
    /// The declared payload length does not fit in the datagram.
    #[error("payload length {declared} exceeds the {available} bytes present")]
    PayloadLength {
        /// Length in the header.
        declared: usize,
        /// Bytes present after the header.
        available: usize,
    },
    /// Bytes left over where none may be.
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    /// The integrity pad / pad length / next header trailer is inconsistent.
    #[error("malformed integrity trailer")]
    Trailer,
    /// An IPMI message checksum did not add up to zero.
    #[error("bad {0} checksum")]
    Checksum(&'static str),
}

/// One decoded UDP datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An ASF message (presence ping, pong, …).
    Asf(AsfMessage),
    /// An IPMI v1.5 session packet (used before RMCP+ sessions for Get Channel Auth Capabilities).
    V15(V15Packet<'a>),
    /// An IPMI v2.0 RMCP+ packet.
    V20(V20Packet<'a>),
}

/// An ASF message.
#[derive(Debug, PartialEq, Eq)]
pub struct AsfMessage {
    /// Message type (0x80 ping, 0x40 pong).
    pub message_type: u8,
    /// Message tag, echoed in the answer.
    pub tag: u8,
    /// Message data.
    pub data: Vec<u8>,
}

/// An IPMI v1.5 session packet.
#[derive(Debug, PartialEq, Eq)]
pub struct V15Packet<'a> {
    /// Authentication type (0 none, 1 MD2, 2 MD5, 4 password).
    pub auth_type: u8,
    /// Session sequence number.
    pub sequence: u32,
    /// Session ID (0 outside a session).
    pub session_id: u32,
    /// The IPMI message.
    pub message: &'a [u8],
}

/// An IPMI v2.0 RMCP+ packet, before integrity checking and decryption.
#[derive(Debug, PartialEq, Eq)]
pub struct V20Packet<'a> {
    /// The payload is encrypted.
    pub encrypted: bool,
    /// The packet carries an integrity trailer.
    pub authenticated: bool,
    /// Payload type.
    pub payload_type: PayloadType,
    /// Receiver's session ID (0 during session setup).
    pub session_id: u32,
    /// Session sequence number.
    pub sequence: u32,
    /// The payload as sent (still encrypted when `encrypted`).
    pub payload: &'a [u8],
    /// Everything from the authentication type byte to the end of the datagram.
    pub session_bytes: &'a [u8],
    /// Offset within `session_bytes` where the payload ends and the trailer begins.
    pub payload_end: usize,
}

const V20_HEADER_LEN: usize = 12;

impl<'a> V20Packet<'a> {
    /// Splits the integrity trailer: returns the signed bytes and the authentication code.
    pub fn signed_parts(&self, code_len: usize) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
        let total = self.session_bytes.len();
        let trailer = total - self.payload_end;
        if trailer < code_len + 2 {
            return Err(DecodeError::Trailer);
        }
        let next = self.session_bytes[total - code_len - 1];
        let pad_len = usize::from(self.session_bytes[total - code_len - 2]);
        if next != NEXT_HEADER || pad_len + 2 + code_len != trailer {
            return Err(DecodeError::Trailer);
        }
        Ok(self.session_bytes.split_at(total - code_len))
    }
}

/// Decodes the framing of one datagram. Never panics, whatever the bytes.
pub fn decode(buf: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    need("RMCP header", buf, 4)?;
    if buf[0] != RMCP_VERSION {
        return Err(DecodeError::RmcpVersion(buf[0]));
    }
    let body = &buf[4..];
    match buf[3] {
        CLASS_ASF => decode_asf(body).map(Datagram::Asf),
        CLASS_IPMI => decode_session(body),
        other => Err(DecodeError::RmcpClass(other)),
    }
}

fn need(what: &'static str, buf: &[u8], need: usize) -> Result<(), DecodeError> {
    if buf.len() < need {
        Err(DecodeError::Truncated {
            what,
            len: buf.len(),
            need,
        })
    } else {
        Ok(())
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn decode_asf(body: &[u8]) -> Result<AsfMessage, DecodeError> {
    need("ASF header", body, 8)?;
    let iana = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    if iana != ASF_IANA {
        return Err(DecodeError::AsfEnterprise(iana));
    }
    let len = usize::from(body[7]);
    let data = &body[8..];
    if data.len() < len {
        return Err(DecodeError::PayloadLength {
            declared: len,
            available: data.len(),
        });
    }
    Ok(AsfMessage {
        message_type: body[4],
        tag: body[5],
        data: data[..len].to_vec(),
    })
}

fn decode_session(body: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    need("session header", body, 1)?;
    match body[0] {
        AUTH_TYPE_RMCP_PLUS => decode_v20(body).map(Datagram::V20),
        t @ (0x00 | 0x01 | 0x02 | 0x04 | 0x05) => decode_v15(t, body).map(Datagram::V15),
        t => Err(DecodeError::AuthType(t)),
    }
}

fn decode_v15(auth_type: u8, body: &[u8]) -> Result<V15Packet<'_>, DecodeError> {
    let code_len = if auth_type == AUTH_TYPE_NONE { 0 } else { 16 };
    let head = 9 + code_len + 1;
    need("IPMI v1.5 session header", body, head)?;
    let len = usize::from(body[head - 1]);
    let rest = &body[head..];
    // A single legacy pad byte after the message is tolerated.
    if rest.len() < len {
        return Err(DecodeError::PayloadLength {
            declared: len,
            available: rest.len(),
        });
    }
    if rest.len() > len + 1 {
        return Err(DecodeError::TrailingBytes(rest.len() - len));
    }
    Ok(V15Packet {
        auth_type,
        sequence: le32(&body[1..5]),
        session_id: le32(&body[5..9]),
        message: &rest[..len],
    })
}

fn decode_v20(body: &[u8]) -> Result<V20Packet<'_>, DecodeError> {
    need("IPMI v2.0 session header", body, V20_HEADER_LEN)?;
    let pt = body[1];
    let payload_type = PayloadType::from_bits(pt).ok_or(DecodeError::PayloadType(pt & 0x3F))?;
    let len = usize::from(u16::from_le_bytes([body[10], body[11]]));
    let rest = &body[V20_HEADER_LEN..];
    if rest.len() < len {
        return Err(DecodeError::PayloadLength {
            declared: len,
            available: rest.len(),
        });
    }
    let authenticated = pt & 0x40 != 0;
    if !authenticated && rest.len() != len {
        return Err(DecodeError::TrailingBytes(rest.len() - len));
    }
    Ok(V20Packet {
        encrypted: pt & 0x80 != 0,
        authenticated,
        payload_type,
        session_id: le32(&body[2..6]),
        sequence: le32(&body[6..10]),
        payload: &rest[..len],
        session_bytes: body,
        payload_end: V20_HEADER_LEN + len,
    })
}

fn rmcp_header(class: u8) -> Vec<u8> {
    vec![RMCP_VERSION, 0x00, RMCP_SEQ_NO_ACK, class]
}

/// Encodes an ASF message.
pub fn encode_asf(message_type: u8, tag: u8, data: &[u8]) -> Vec<u8> {
    let mut out = rmcp_header(CLASS_ASF);
    out.extend(ASF_IANA.to_be_bytes());
    out.extend([message_type, tag, 0x00, data.len() as u8]);
    out.extend(data);
    out
}

/// The Presence Pong answering a ping with `tag`: IPMI supported, no interactions.
pub fn presence_pong(tag: u8) -> Vec<u8> {
    let mut data = Vec::with_capacity(16);
    data.extend(ASF_IANA.to_be_bytes());
    data.extend([0, 0, 0, 0]); // OEM-defined
    data.push(0x81); // supported entities: IPMI, ASF version 1.0
    data.push(0x00); // supported interactions
    data.extend([0; 6]);
    encode_asf(ASF_PRESENCE_PONG, tag, &data)
}

/// Encodes an IPMI v1.5 packet with authentication type "none".
pub fn encode_v15(sequence: u32, session_id: u32, message: &[u8]) -> Vec<u8> {
    let mut out = rmcp_header(CLASS_IPMI);
    out.push(AUTH_TYPE_NONE);
    out.extend(sequence.to_le_bytes());
    out.extend(session_id.to_le_bytes());
    out.push(message.len() as u8);
    out.extend(message);
    out
}

/// Header fields of an outgoing RMCP+ packet.
#[derive(Clone, Copy, Debug)]
pub struct V20Header {
    /// Payload type.
    pub payload_type: PayloadType,
    /// The receiver's session ID.
    pub session_id: u32,
    /// Sender's sequence number.
    pub sequence: u32,
    /// The payload bytes given are already encrypted.
    pub encrypted: bool,
}

/// Encodes an RMCP+ packet; with `keys` whose suite has integrity, it is signed with a trailer.
pub fn encode_v20(header: V20Header, payload: &[u8], keys: Option<&SessionKeys>) -> Vec<u8> {
    let signer = keys.filter(|k| k.suite().integrity.code_len() > 0);
    let mut pt = header.payload_type as u8;
    if header.encrypted {
        pt |= 0x80;
    }
    if signer.is_some() {
        pt |= 0x40;
    }
    // RMCP header, session header, payload, up to three pad bytes, pad length, next header, code.
    let mut out = Vec::with_capacity(4 + V20_HEADER_LEN + payload.len() + 5 + 16);
    out.extend([RMCP_VERSION, 0x00, RMCP_SEQ_NO_ACK, CLASS_IPMI]);
    out.push(AUTH_TYPE_RMCP_PLUS);
    out.push(pt);
    out.extend(header.session_id.to_le_bytes());
    out.extend(header.sequence.to_le_bytes());
    out.extend((payload.len() as u16).to_le_bytes());
    out.extend(payload);
    if let Some(k) = signer {
        // Pad so that the signed span (auth type .. next header) is a multiple of four bytes.
        let signed_len = V20_HEADER_LEN + payload.len() + 2;
        let pad = (4 - signed_len % 4) % 4;
        out.extend(std::iter::repeat_n(0xFF, pad));
        out.push(pad as u8);
        out.push(NEXT_HEADER);
        let code = k.sign(&out[4..]);
        out.extend_from_slice(&code);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::crypto::CipherSuite;

    #[test]
    fn presence_ping_decodes_and_pong_echoes_the_tag() {
        let ping = encode_asf(ASF_PRESENCE_PING, 0x2A, &[]);
        assert_eq!(ping, [6, 0, 0xFF, 6, 0, 0, 0x11, 0xBE, 0x80, 0x2A, 0, 0]);
        let Datagram::Asf(m) = decode(&ping).unwrap() else {
            panic!("not ASF")
        };
        assert_eq!((m.message_type, m.tag), (ASF_PRESENCE_PING, 0x2A));
        let pong = presence_pong(0x2A);
        let Datagram::Asf(p) = decode(&pong).unwrap() else {
            panic!("not ASF")
        };
        assert_eq!(
            (p.message_type, p.tag, p.data.len()),
            (ASF_PRESENCE_PONG, 0x2A, 16)
        );
        assert_eq!(p.data[8], 0x81);
    }

    #[test]
    fn v15_packet_round_trips() {
        let bytes = encode_v15(0, 0, &[1, 2, 3]);
        assert_eq!(bytes[..5], [6, 0, 0xFF, 7, 0]);
        let Datagram::V15(p) = decode(&bytes).unwrap() else {
            panic!("not v1.5")
        };
        assert_eq!(
            (p.auth_type, p.sequence, p.session_id, p.message),
            (0, 0, 0, &[1u8, 2, 3][..])
        );
    }

    #[test]
    fn unsigned_v20_packet_round_trips() {
        let h = V20Header {
            payload_type: PayloadType::OpenSessionRequest,
            session_id: 0,
            sequence: 0,
            encrypted: false,
        };
        let bytes = encode_v20(h, &[9; 32], None);
        assert_eq!(bytes.len(), 4 + 12 + 32);
        let Datagram::V20(p) = decode(&bytes).unwrap() else {
            panic!("not v2.0")
        };
        assert_eq!(p.payload_type, PayloadType::OpenSessionRequest);
        assert!(!p.authenticated && !p.encrypted);
        assert_eq!(p.payload, &[9; 32]);
    }

    #[test]
    fn signed_v20_packet_has_a_four_byte_aligned_trailer_that_verifies() {
        for id in [2, 3, 16, 17] {
            let keys = SessionKeys::derive(CipherSuite::by_id(id).unwrap(), &[5; 32]);
            for len in 0..9 {
                let h = V20Header {
                    payload_type: PayloadType::Ipmi,
                    session_id: 0x1234,
                    sequence: 7,
                    encrypted: false,
                };
                let bytes = encode_v20(h, &vec![1; len], Some(&keys));
                let Datagram::V20(p) = decode(&bytes).unwrap() else {
                    panic!("not v2.0")
                };
                assert!(p.authenticated);
                let (signed, code) = p.signed_parts(keys.suite().integrity.code_len()).unwrap();
                assert_eq!(signed.len() % 4, 0);
                assert!(keys.verify(signed, code).is_ok());
                assert_eq!((p.session_id, p.sequence), (0x1234, 7));
            }
        }
    }

    #[test]
    fn wrong_rmcp_version_and_unknown_class_are_rejected() {
        assert_eq!(decode(&[5, 0, 0xFF, 7]), Err(DecodeError::RmcpVersion(5)));
        assert_eq!(decode(&[6, 0, 0xFF, 8]), Err(DecodeError::RmcpClass(8)));
        assert!(matches!(
            decode(&[6, 0, 0xFF]),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn a_payload_longer_than_the_datagram_is_rejected() {
        let mut bytes = encode_v15(0, 0, &[1, 2, 3]);
        bytes[13] = 50;
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError::PayloadLength { declared: 50, .. })
        ));
    }

    #[test]
    fn a_forged_trailer_is_rejected() {
        let keys = SessionKeys::derive(CipherSuite::by_id(3).unwrap(), &[5; 20]);
        let h = V20Header {
            payload_type: PayloadType::Ipmi,
            session_id: 1,
            sequence: 1,
            encrypted: false,
        };
        let mut bytes = encode_v20(h, &[1, 2, 3], Some(&keys));
        let n = bytes.len();
        bytes[n - 13] = 0x06; // next header
        let Datagram::V20(p) = decode(&bytes).unwrap() else {
            panic!("not v2.0")
        };
        assert_eq!(p.signed_parts(12), Err(DecodeError::Trailer));
    }
}
