//! RMCP+ cryptography (IPMI v2.0 §13.28–13.32): cipher suites, the RAKP key-exchange codes, the
//! session keys (SIK, K1, K2), payload integrity and AES-CBC-128 confidentiality.
//!
//! Everything here is pure: random numbers and IVs come in as arguments.

use aes::Aes128;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

/// The payload crypto of an active session: K1, K2, authentication codes, AES-CBC.
mod session_keys;
pub use session_keys::*;

/// Authentication (key exchange) algorithm numbers, IPMI v2.0 table 13-17.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthAlgorithm {
    /// RAKP-none: no key-exchange codes at all.
    None,
    /// RAKP-HMAC-SHA1.
    HmacSha1,
    /// RAKP-HMAC-SHA256.
    HmacSha256,
}

/// Integrity algorithm numbers, IPMI v2.0 table 13-18.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegrityAlgorithm {
    /// No integrity trailer.
    None,
    /// HMAC-SHA1 truncated to 96 bits.
    HmacSha1_96,
    /// HMAC-SHA256 truncated to 128 bits.
    HmacSha256_128,
}

/// Confidentiality algorithm numbers, IPMI v2.0 table 13-19.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfidentialityAlgorithm {
    /// Payloads in the clear.
    None,
    /// AES-CBC-128 with the IPMI confidentiality trailer.
    AesCbc128,
}

impl AuthAlgorithm {
    /// The wire number.
    pub fn number(self) -> u8 {
        match self {
            Self::None => 0x00,
            Self::HmacSha1 => 0x01,
            Self::HmacSha256 => 0x03,
        }
    }

    /// Parses a wire number; MD5 and OEM algorithms are not offered.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0x00 => Some(Self::None),
            0x01 => Some(Self::HmacSha1),
            0x03 => Some(Self::HmacSha256),
            _ => None,
        }
    }

    /// Bytes of a RAKP 2/3 key-exchange authentication code.
    pub fn code_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
        }
    }

    /// Bytes of the RAKP 4 integrity check value.
    pub fn icv_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1 => 12,
            Self::HmacSha256 => 16,
        }
    }

    /// HMAC over the concatenation of `parts` (empty for RAKP-none).
    pub fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::None => Vec::new(),
            Self::HmacSha1 => hmac_sha1(key, parts),
            Self::HmacSha256 => hmac_sha256(key, parts),
        }
    }
}

impl IntegrityAlgorithm {
    /// The wire number.
    pub fn number(self) -> u8 {
        match self {
            Self::None => 0x00,
            Self::HmacSha1_96 => 0x01,
            Self::HmacSha256_128 => 0x04,
        }
    }

    /// Parses a wire number; MD5 variants are not offered.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0x00 => Some(Self::None),
            0x01 => Some(Self::HmacSha1_96),
            0x04 => Some(Self::HmacSha256_128),
            _ => None,
        }
    }

    /// Bytes of the authentication code at the end of a signed packet.
    pub fn code_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
        }
    }
}

impl ConfidentialityAlgorithm {
    /// The wire number.
    pub fn number(self) -> u8 {
        match self {
            Self::None => 0x00,
            Self::AesCbc128 => 0x01,
        }
    }

    /// Parses a wire number; the xRC4 variants are not offered.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0x00 => Some(Self::None),
            0x01 => Some(Self::AesCbc128),
            _ => None,
        }
    }
}

/// A standard cipher suite (IPMI v2.0 table 22-20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CipherSuite {
    /// Cipher suite ID.
    pub id: u8,
    /// Key exchange.
    pub auth: AuthAlgorithm,
    /// Packet integrity.
    pub integrity: IntegrityAlgorithm,
    /// Payload confidentiality.
    pub confidentiality: ConfidentialityAlgorithm,
}

/// Every suite this implementation knows, in preference order (strongest first).
pub const KNOWN_SUITES: [CipherSuite; 7] = [
    suite(
        17,
        AuthAlgorithm::HmacSha256,
        IntegrityAlgorithm::HmacSha256_128,
        ConfidentialityAlgorithm::AesCbc128,
    ),
    suite(
        3,
        AuthAlgorithm::HmacSha1,
        IntegrityAlgorithm::HmacSha1_96,
        ConfidentialityAlgorithm::AesCbc128,
    ),
    suite(
        16,
        AuthAlgorithm::HmacSha256,
        IntegrityAlgorithm::HmacSha256_128,
        ConfidentialityAlgorithm::None,
    ),
    suite(
        2,
        AuthAlgorithm::HmacSha1,
        IntegrityAlgorithm::HmacSha1_96,
        ConfidentialityAlgorithm::None,
    ),
    suite(
        15,
        AuthAlgorithm::HmacSha256,
        IntegrityAlgorithm::None,
        ConfidentialityAlgorithm::None,
    ),
    suite(
        1,
        AuthAlgorithm::HmacSha1,
        IntegrityAlgorithm::None,
        ConfidentialityAlgorithm::None,
    ),
    suite(
        0,
        AuthAlgorithm::None,
        IntegrityAlgorithm::None,
        ConfidentialityAlgorithm::None,
    ),
];

const fn suite(
    id: u8,
    auth: AuthAlgorithm,
    integrity: IntegrityAlgorithm,
    confidentiality: ConfidentialityAlgorithm,
) -> CipherSuite {
    CipherSuite {
        id,
        auth,
        integrity,
        confidentiality,
    }
}

impl CipherSuite {
    /// Looks up a standard suite by ID.
    pub fn by_id(id: u8) -> Option<Self> {
        KNOWN_SUITES.iter().copied().find(|s| s.id == id)
    }

    /// Finds the suite made of exactly these three algorithms.
    pub fn by_algorithms(
        auth: AuthAlgorithm,
        integrity: IntegrityAlgorithm,
        confidentiality: ConfidentialityAlgorithm,
    ) -> Option<Self> {
        KNOWN_SUITES.iter().copied().find(|s| {
            s.auth == auth && s.integrity == integrity && s.confidentiality == confidentiality
        })
    }
}

/// Inputs shared by the RAKP 2, RAKP 3, SIK and RAKP 4 computations of one handshake.
#[derive(Clone, Debug)]
pub struct Handshake<'a> {
    /// Remote console session ID (SIDm), as sent on the wire (little-endian).
    pub console_session_id: u32,
    /// Managed system session ID (SIDc).
    pub bmc_session_id: u32,
    /// Remote console random number (Rm).
    pub console_random: [u8; 16],
    /// Managed system random number (Rc).
    pub bmc_random: [u8; 16],
    /// Managed system GUID (GUIDc), wire order.
    pub bmc_guid: [u8; 16],
    /// The requested role byte of RAKP 1 exactly as received (privilege plus name-only lookup bit).
    pub role: u8,
    /// User name of RAKP 1.
    pub username: &'a [u8],
}

impl Handshake<'_> {
    fn name_len(&self) -> [u8; 1] {
        // Usernames are at most 16 bytes (checked at RAKP 1), so this cannot truncate.
        [u8::try_from(self.username.len()).unwrap_or(u8::MAX)]
    }

    /// RAKP 2 key exchange authentication code, keyed with the user's password (Kuid).
    pub fn rakp2_code(&self, alg: AuthAlgorithm, kuid: &[u8]) -> Vec<u8> {
        alg.mac(
            kuid,
            &[
                &self.console_session_id.to_le_bytes(),
                &self.bmc_session_id.to_le_bytes(),
                &self.console_random,
                &self.bmc_random,
                &self.bmc_guid,
                &[self.role],
                &self.name_len(),
                self.username,
            ],
        )
    }

    /// RAKP 3 key exchange authentication code, keyed with Kuid.
    pub fn rakp3_code(&self, alg: AuthAlgorithm, kuid: &[u8]) -> Vec<u8> {
        alg.mac(
            kuid,
            &[
                &self.bmc_random,
                &self.console_session_id.to_le_bytes(),
                &[self.role],
                &self.name_len(),
                self.username,
            ],
        )
    }

    /// Session Integrity Key, keyed with Kg (the BMC key, or Kuid when none is set).
    pub fn sik(&self, alg: AuthAlgorithm, kg: &[u8]) -> Vec<u8> {
        alg.mac(
            kg,
            &[
                &self.console_random,
                &self.bmc_random,
                &[self.role],
                &self.name_len(),
                self.username,
            ],
        )
    }

    /// RAKP 4 integrity check value, keyed with the SIK and truncated per algorithm.
    pub fn rakp4_icv(&self, alg: AuthAlgorithm, sik: &[u8]) -> Vec<u8> {
        let mut v = alg.mac(
            sik,
            &[
                &self.console_random,
                &self.bmc_session_id.to_le_bytes(),
                &self.bmc_guid,
            ],
        );
        v.truncate(alg.icv_len());
        v
    }
}

// HMAC takes keys of any length, so `new_from_slice` cannot fail; should it ever, the code is empty,
// which matches nothing and so fails closed (the session is refused) rather than panicking.
fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut m) = <Hmac<Sha1> as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::KeyIvInit;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hmac_sha1_matches_rfc2202_case_2() {
        let mac = AuthAlgorithm::HmacSha1.mac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(mac, hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
    }

    #[test]
    fn hmac_sha1_matches_rfc2202_case_1() {
        let mac = AuthAlgorithm::HmacSha1.mac(&[0x0b; 20], &[b"Hi There"]);
        assert_eq!(mac, hex("b617318655057264e28bc0b6fb378c8ef146be00"));
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        let mac = AuthAlgorithm::HmacSha256.mac(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(
            mac,
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_1() {
        let mac = AuthAlgorithm::HmacSha256.mac(&[0x0b; 20], &[b"Hi There"]);
        assert_eq!(
            mac,
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
    }

    #[test]
    fn aes_cbc_128_matches_the_nist_sp800_38a_first_block() {
        // SP 800-38A F.2.1 CBC-AES128.Encrypt, block 1, through our padding-free path.
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let pt = hex("6bc1bee22e409f96e93d7e117393172a");
        let ct = cbc::Encryptor::<Aes128>::new(key.as_slice().into(), &iv.into())
            .encrypt_padded_vec_mut::<NoPadding>(&pt);
        assert_eq!(ct, hex("7649abac8119b246cee98e9b12e9197d"));
    }

    fn keys(id: u8) -> SessionKeys {
        SessionKeys::derive(CipherSuite::by_id(id).unwrap(), &[7u8; 32])
    }

    #[test]
    fn encryption_round_trips_every_payload_length() {
        for id in [3, 17] {
            let k = keys(id);
            for len in 0..40 {
                let payload: Vec<u8> = (0..len as u8).collect();
                let ct = k.encrypt(&payload, [len as u8; 16]);
                assert_eq!(ct.len() % 16, 0);
                assert_eq!(k.decrypt(&ct).unwrap(), payload, "suite {id} len {len}");
            }
        }
    }

    #[test]
    fn confidentiality_pad_counts_up_from_one() {
        let k = keys(3);
        let ct = k.encrypt(&[0xAA; 13], [0; 16]);
        let plain = cbc::Decryptor::<Aes128>::new(&k.aes_key.into(), &[0u8; 16].into())
            .decrypt_padded_vec_mut::<NoPadding>(&ct[16..])
            .unwrap();
        assert_eq!(&plain[13..], &[1, 2, 2]);
    }

    #[test]
    fn decrypting_a_ragged_payload_is_an_error() {
        assert_eq!(
            keys(17).decrypt(&[0; 20]),
            Err(CryptoError::CipherLength { len: 20 })
        );
    }

    #[test]
    fn integrity_codes_are_truncated_per_suite_and_verified() {
        let k3 = keys(3);
        let k17 = keys(17);
        assert_eq!(k3.sign(b"abc").len(), 12);
        assert_eq!(k17.sign(b"abc").len(), 16);
        let code = k17.sign(b"abc");
        assert!(k17.verify(b"abc", &code).is_ok());
        assert_eq!(
            k17.verify(b"abd", &code),
            Err(CryptoError::IntegrityMismatch)
        );
        assert_eq!(
            k3.verify(b"abc", &code),
            Err(CryptoError::IntegrityMismatch)
        );
    }

    #[test]
    fn k1_and_k2_use_twenty_byte_constants_for_sha256_too() {
        let sik = [9u8; 32];
        let k = SessionKeys::derive(CipherSuite::by_id(17).unwrap(), &sik);
        assert_eq!(k.k1, AuthAlgorithm::HmacSha256.mac(&sik, &[&[1u8; 20]]));
        assert_eq!(
            k.aes_key[..],
            AuthAlgorithm::HmacSha256.mac(&sik, &[&[2u8; 20]])[..16]
        );
    }

    #[test]
    fn k1_is_hmac_of_the_sik_over_twenty_ones_for_sha1() {
        let sik = [9u8; 20];
        let k = SessionKeys::derive(CipherSuite::by_id(3).unwrap(), &sik);
        assert_eq!(k.k1, AuthAlgorithm::HmacSha1.mac(&sik, &[&[1u8; 20]]));
        assert_eq!(
            k.aes_key[..],
            AuthAlgorithm::HmacSha1.mac(&sik, &[&[2u8; 20]])[..16]
        );
    }

    #[test]
    fn rakp_codes_depend_on_every_handshake_input() {
        let h = Handshake {
            console_session_id: 0xA0A1A2A3,
            bmc_session_id: 0x01020304,
            console_random: [1; 16],
            bmc_random: [2; 16],
            bmc_guid: [3; 16],
            role: 0x14,
            username: b"admin",
        };
        let base = h.rakp2_code(AuthAlgorithm::HmacSha1, b"password");
        // RAKP 2 input is SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULENGTHm | UNAMEm.
        let mut input = Vec::new();
        input.extend(0xA0A1A2A3u32.to_le_bytes());
        input.extend(0x01020304u32.to_le_bytes());
        input.extend([1; 16]);
        input.extend([2; 16]);
        input.extend([3; 16]);
        input.extend([0x14, 5]);
        input.extend(b"admin");
        assert_eq!(base, AuthAlgorithm::HmacSha1.mac(b"password", &[&input]));
        let other = Handshake {
            role: 0x04,
            ..h.clone()
        };
        assert_ne!(other.rakp2_code(AuthAlgorithm::HmacSha1, b"password"), base);
        assert_eq!(h.rakp4_icv(AuthAlgorithm::HmacSha256, &[0; 32]).len(), 16);
        assert_eq!(h.rakp4_icv(AuthAlgorithm::HmacSha1, &[0; 20]).len(), 12);
        assert!(h.rakp3_code(AuthAlgorithm::None, b"x").is_empty());
    }

    #[test]
    fn suites_3_and_17_have_the_spec_algorithms() {
        let s3 = CipherSuite::by_id(3).unwrap();
        assert_eq!(
            (
                s3.auth.number(),
                s3.integrity.number(),
                s3.confidentiality.number()
            ),
            (1, 1, 1)
        );
        let s17 = CipherSuite::by_id(17).unwrap();
        assert_eq!(
            (
                s17.auth.number(),
                s17.integrity.number(),
                s17.confidentiality.number()
            ),
            (3, 4, 1)
        );
        assert_eq!(
            CipherSuite::by_algorithms(s17.auth, s17.integrity, s17.confidentiality),
            Some(s17)
        );
    }
}
