//! The payload crypto of an active session (IPMI v2.0 §13.28–13.29): the session keys K1 and K2
//! set up once per session, packet authentication codes, AES-CBC-128 confidentiality, and a
//! constant-time comparison.

use super::*;

/// Failures of the payload crypto of an active session.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The authentication code at the end of a packet did not match.
    #[error("integrity check failed")]
    IntegrityMismatch,
    /// An encrypted payload was not IV plus whole AES blocks.
    #[error("encrypted payload of {len} bytes is not an IV plus whole AES blocks")]
    CipherLength {
        /// Payload length received.
        len: usize,
    },
    /// The confidentiality trailer (pad bytes and pad length) was inconsistent.
    #[error("confidentiality pad is malformed")]
    BadPad,
}

/// Keys derived for an active session: integrity (K1) and confidentiality (K2), each set up once
/// per session — the HMAC keyed with K1 (its inner and outer pads already hashed) and the AES key
/// schedule of K2 — so that a packet costs only its own bytes.
#[derive(Clone)]
pub struct SessionKeys {
    suite: CipherSuite,
    integrity: KeyedMac,
    aes: Aes128,
    #[cfg(test)]
    pub(super) k1: Vec<u8>,
    #[cfg(test)]
    pub(super) aes_key: [u8; 16],
}

/// An HMAC keyed with K1, cloned for each packet.
#[derive(Clone)]
enum KeyedMac {
    None,
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
}

/// A packet's authentication code (at most 16 bytes: HMAC-SHA256-128), without a heap allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthCode {
    bytes: [u8; 16],
    len: usize,
}

impl std::ops::Deref for AuthCode {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AuthCode {
    fn truncated(full: &[u8], len: usize) -> Self {
        let mut bytes = [0u8; 16];
        let len = len.min(full.len()).min(16);
        bytes[..len].copy_from_slice(&full[..len]);
        Self { bytes, len }
    }
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches a log line.
        f.debug_struct("SessionKeys")
            .field("suite", &self.suite.id)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Derives K1 and K2 from the SIK (IPMI v2.0 §13.32).
    pub fn derive(suite: CipherSuite, sik: &[u8]) -> Self {
        // The constants are 20 bytes for every algorithm, SHA-256 included.
        let k1 = suite.auth.mac(sik, &[&[0x01; 20]]);
        let k2 = suite.auth.mac(sik, &[&[0x02; 20]]);
        let mut aes_key = [0u8; 16];
        if k2.len() >= 16 {
            aes_key.copy_from_slice(&k2[..16]);
        }
        // HMAC takes keys of any length; should keying ever fail, the code is empty, which matches
        // nothing and so fails closed (as `hmac_sha1` below does).
        let integrity = match suite.integrity {
            IntegrityAlgorithm::None => KeyedMac::None,
            IntegrityAlgorithm::HmacSha1_96 => {
                <Hmac<Sha1> as Mac>::new_from_slice(&k1).map_or(KeyedMac::None, KeyedMac::Sha1)
            }
            IntegrityAlgorithm::HmacSha256_128 => {
                <Hmac<Sha256> as Mac>::new_from_slice(&k1).map_or(KeyedMac::None, KeyedMac::Sha256)
            }
        };
        Self {
            suite,
            integrity,
            aes: Aes128::new(&aes_key.into()),
            #[cfg(test)]
            k1,
            #[cfg(test)]
            aes_key,
        }
    }

    /// The cipher suite these keys belong to.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Authentication code over `signed` (session header through next-header byte); empty when
    /// the suite has no integrity algorithm.
    pub fn sign(&self, signed: &[u8]) -> AuthCode {
        let len = self.suite.integrity.code_len();
        match &self.integrity {
            KeyedMac::None => AuthCode::truncated(&[], 0),
            KeyedMac::Sha1(keyed) => {
                let mut m = keyed.clone();
                m.update(signed);
                AuthCode::truncated(&m.finalize().into_bytes(), len)
            }
            KeyedMac::Sha256(keyed) => {
                let mut m = keyed.clone();
                m.update(signed);
                AuthCode::truncated(&m.finalize().into_bytes(), len)
            }
        }
    }

    /// Checks the authentication code of a received packet in constant time.
    pub fn verify(&self, signed: &[u8], code: &[u8]) -> Result<(), CryptoError> {
        let expected = self.sign(signed);
        if metal_tls::secret::eq(&expected, code) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityMismatch)
        }
    }

    /// Encrypts a payload: IV, then AES-CBC-128 over payload + pad 1,2,3… + pad length.
    pub fn encrypt(&self, payload: &[u8], iv: [u8; 16]) -> Vec<u8> {
        if self.suite.confidentiality == ConfidentialityAlgorithm::None {
            return payload.to_vec();
        }
        let pad = (16 - (payload.len() + 1) % 16) % 16;
        let body_len = payload.len() + pad + 1;
        let mut out = Vec::with_capacity(16 + body_len);
        out.extend_from_slice(&iv);
        out.extend_from_slice(payload);
        out.extend((1..=pad).map(|i| i as u8));
        out.push(pad as u8);
        // The body is whole blocks by construction, so the padding-free encryption cannot fail.
        let encrypted = cbc::Encryptor::<Aes128>::inner_iv_init(self.aes.clone(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut out[16..], body_len)
            .is_ok();
        debug_assert!(encrypted, "whole AES blocks");
        out
    }

    /// Decrypts a payload produced by [`SessionKeys::encrypt`] (or a peer doing the same).
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if self.suite.confidentiality == ConfidentialityAlgorithm::None {
            return Ok(data.to_vec());
        }
        if data.len() < 32 || !data.len().is_multiple_of(16) {
            return Err(CryptoError::CipherLength { len: data.len() });
        }
        let (iv, body) = data.split_at(16);
        let iv: [u8; 16] = iv
            .try_into()
            .map_err(|_| CryptoError::CipherLength { len: data.len() })?;
        let mut plain = body.to_vec();
        cbc::Decryptor::<Aes128>::inner_iv_init(self.aes.clone(), &iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut plain)
            .map_err(|_| CryptoError::CipherLength { len: data.len() })?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::BadPad)?);
        if pad > 15 || pad + 1 > plain.len() {
            return Err(CryptoError::BadPad);
        }
        // Pad bytes are 1, 2, 3, … by spec; some consoles fill differently, so only the length is trusted.
        plain.truncate(plain.len() - pad - 1);
        Ok(plain)
    }
}
